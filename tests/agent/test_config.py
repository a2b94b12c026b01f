"""The agent config: the documented example validates, and every mistake is one clear line."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from probe.agent.config import AgentConfig, parse_config
from probe.cli.agent_cmd import load_config
from probe.errors import ConfigError
from tests.support import ROOT, run_cli

EXAMPLE = ROOT / "deploy" / "agent.example.toml"

MINIMAL = """\
[contract]
file = "c.toml"

[[servers]]
name = "a"
url = "http://198.18.0.1:8080"
role = "on-net"

[[servers]]
name = "b"
url = "http://198.18.1.1:8080"
role = "off-net"
"""


def test_documented_example_is_valid_and_matches_the_defaults() -> None:
    config = load_config(EXAMPLE)
    assert isinstance(config, AgentConfig)
    assert [s.role for s in config.servers] == ["on-net", "off-net"]
    assert config.schedule.campaign == "auto"
    assert config.clock.require_sync is True
    assert config.gating.threshold_kbps == 64
    assert config.metrics_listen == "127.0.0.1:9181"


def test_example_check_prints_the_plan() -> None:
    done = run_cli(["agent", "--config", str(EXAMPLE), "--check"])
    assert done.returncode == 0, done.stderr
    assert "profile de-bnetza" in done.stdout
    assert "campaign    de-bnetza" in done.stdout


def test_every_section_parses() -> None:
    doc = tomllib.loads(MINIMAL + """
[probe]
id = "pi-1"
[measure]
duration_s = "auto"
streams = 2
[store]
db = "x.db"
max_age_days = 365
max_mb = 64
[sink]
url = "http://127.0.0.1:8428"
kind = "victoriametrics"
[schedule]
interval_min = 30
peak_interval_min = 10
jitter = 0.2
peak_hours = [18, 22.5]
daily_budget_mb = 500
campaign = "off"
[clock]
require_sync = false
source = "timesyncd"
max_wait_min = 10
[gating]
interface = "eth1"
threshold_kbps = 100
window_s = 3
cpu_load_max = 0.5
max_defer_s = 600
[alerts]
apprise = ["json://127.0.0.1/x"]
[[alerts.alertmanager]]
url = "http://127.0.0.1:9093"
[[alerts.webhook]]
url = "http://127.0.0.1:8000/hook"
[metrics]
listen = "127.0.0.1:0"
[log]
format = "text"
""")
    config = parse_config(doc)
    assert isinstance(config, AgentConfig), config
    assert config.measure.duration_s == "auto"
    assert config.schedule.peak_hours == (18.0, 22.5)
    assert config.schedule.daily_budget_bytes == 500_000_000
    assert config.clock.max_wait_s == 600
    assert config.alerts.alertmanager_urls == ("http://127.0.0.1:9093",)
    assert config.alerts.webhook_urls == ("http://127.0.0.1:8000/hook",)
    assert config.sink is not None
    assert config.sink.kind == "victoriametrics"
    assert config.gating.interface == "eth1"


@pytest.mark.parametrize(("change", "line", "key", "message"), [
    (("[[servers]]\nname = \"b\"", "[[servers]]\nname = \"a\""), None, "servers",
     "server name 'a' is used twice"),
    (("url = \"http://198.18.1.1:8080\"", "url = \"ftp://x\""), 11, "servers[1].url",
     "must be an http:// or https:// URL"),
    (("role = \"off-net\"", "role = \"offnet\""), 12, "servers[1].role",
     "must be one of on-net, off-net, other"),
    (("", "[schedule]\njitter = 0.9\n"), 14, "schedule.jitter", "must be >= 0 and <= 0.5"),
    (("", "[schedule]\npeak_hours = [23, 19]\n"), 14, "schedule.peak_hours",
     "must be [start_hour, end_hour]"),
    (("", "[gating]\nthreshhold_kbps = 64\n"), 14, "gating.threshhold_kbps", "unknown key"),
    (("", "[clock]\nrequire_sync = \"yes\"\n"), 14, "clock.require_sync", "must be true or false"),
])
def test_bad_value_is_one_line_naming_file_line_and_key(
    tmp_path: Path, change: tuple[str, str], line: int | None, key: str, message: str
) -> None:
    old, new = change
    text = MINIMAL.replace(old, new) if old else MINIMAL + new
    path = tmp_path / "agent.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    where = f"{path}:{line}: " if line else f"{path}"
    assert str(info.value).startswith(where)
    assert f"{key}: {message}" in str(info.value)


def test_one_server_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(MINIMAL.split("[[servers]]\nname = \"b\"", maxsplit=1)[0], encoding="utf-8")
    done = run_cli(["agent", "--config", str(path), "--check"])
    assert done.returncode == 2
    assert done.stderr.startswith(f"probe: error: {path}:")
    assert "servers: needs at least 2 [[servers]]" in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_missing_contract_file_and_bad_toml(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(MINIMAL, encoding="utf-8")
    done = run_cli(["agent", "--config", str(path), "--check"])
    assert done.returncode == 1
    assert "c.toml" in done.stderr
    assert "cannot read" in done.stderr
    path.write_text("[contract\n", encoding="utf-8")
    done = run_cli(["agent", "--config", str(path), "--check"])
    assert done.returncode == 2
    assert "not valid TOML" in done.stderr


def test_backend_is_one_of_the_engines(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(MINIMAL + '[measure]\nbackend = "nosuch"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}:14: measure.backend: must be one of native,")
    # Another engine spells its servers its own way (iperf3: host:port).
    text = MINIMAL.replace("http://198.18.0.1:8080", "198.18.0.1:5201").replace(
        "http://198.18.1.1:8080", "198.18.1.1:5201")
    path.write_text(text + '[measure]\nbackend = "iperf3"\n', encoding="utf-8")
    config = load_config(path)
    assert config.measure.backend == "iperf3"
    assert config.servers[0].url == "198.18.0.1:5201"
