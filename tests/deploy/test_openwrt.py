"""The OpenWrt procd init script: run its start_service() under stand-ins for rc.common's procd
helpers and check the instance it declares (command, environment, respawn, logging)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import ROOT

SCRIPT = ROOT / "deploy" / "openwrt" / "broadband-probe"
# What /lib/functions/procd.sh provides, reduced to printing each call.
STUBS = """
procd_open_instance() { echo "open"; }
procd_close_instance() { echo "close"; }
procd_set_param() { printf 'param'; for a in "$@"; do printf ' [%s]' "$a"; done; echo; }
"""


def run_start(tmp_path: Path, *, with_binary: bool = True,
              with_config: bool = True) -> subprocess.CompletedProcess[str]:
    prog = tmp_path / "venv" / "bin" / "probe"
    config = tmp_path / "agent.toml"
    if with_binary:
        prog.parent.mkdir(parents=True)
        prog.write_text("#!/bin/sh\n")
        prog.chmod(0o755)
    if with_config:
        config.write_text("")
    text = SCRIPT.read_text()
    text = text.replace("/opt/broadband-probe/venv/bin/probe", str(prog))
    text = text.replace("/etc/broadband-probe/agent.toml", str(config))
    text = text.replace("/opt/broadband-probe/state", str(tmp_path / "state"))
    script = tmp_path / "init"
    script.write_text(STUBS + text + "\nstart_service\n")
    shell = shutil.which("dash") or shutil.which("sh") or "/bin/sh"  # BusyBox ash is POSIX too
    return subprocess.run([shell, str(script)], capture_output=True, text=True, timeout=30,
                          check=False)


def test_header_is_procd() -> None:
    lines = SCRIPT.read_text().splitlines()
    assert lines[0] == "#!/bin/sh /etc/rc.common"
    assert "USE_PROCD=1" in lines
    assert any(line.startswith("START=") for line in lines)
    assert SCRIPT.stat().st_mode & 0o111, "the init script must be executable"


def test_instance(tmp_path: Path) -> None:
    proc = run_start(tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.splitlines()
    assert out[0] == "open"
    assert out[-1] == "close"
    prog = tmp_path / "venv" / "bin" / "probe"
    assert f"param [command] [{prog}] [agent] [--config] [{tmp_path / 'agent.toml'}]" in out
    assert "param [respawn] [3600] [30] [5]" in out
    assert "param [stdout] [1]" in out
    assert "param [stderr] [1]" in out
    env = next(line for line in out if line.startswith("param [env]"))
    assert f"[PROBE_STATE_DIR={tmp_path / 'state'}]" in env
    assert "[PYTHONUNBUFFERED=1]" in env  # or logd shows nothing
    assert (tmp_path / "state").is_dir()


@pytest.mark.parametrize(("binary", "config", "message"), [
    (False, True, "missing (see deploy/README.md)"),
    (True, False, "agent.toml missing"),
])
def test_refuses_to_start_half_installed(tmp_path: Path, binary: bool, config: bool,
                                         message: str) -> None:
    proc = run_start(tmp_path, with_binary=binary, with_config=config)
    assert proc.returncode == 1
    assert message in proc.stderr
    assert "open" not in proc.stdout
