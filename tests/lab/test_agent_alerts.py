"""End to end in the namespace lab: `probe agent` on a shaped line below its contract sends
exactly one confirmed alert through a real Alertmanager to a webhook receiver; with the
shaping lifted, the next run (a restart: the alert state comes from the store) sends one
"resolved".

Everything the agent talks to runs in the client namespace (Alertmanager and the receiver on
its own loopback) or the server namespace (two `probe serve`, the "on-net" and "off-net"
servers); the receiver writes each notification as a JSON line the test reads.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from probe.store import SqliteStore
from tests.alertkit import ALERTMANAGER, Alertmanager
from tests.lab.netlab import SERVER_IP, Lab
from tests.support import ROOT, stop_process

pytestmark = [pytest.mark.lab, pytest.mark.services, pytest.mark.slow]

HOOK_PORT, AM_PORT, SECOND_PORT = 18090, 18093, 8081  # a private namespace: no collisions

RECEIVER = """
import http.server, sys
out = sys.argv[2]
class Hook(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers()
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with open(out, "ab") as f:
            f.write(body.replace(b"\\n", b" ") + b"\\n")
        self.send_response(200); self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Hook).serve_forever()
"""

# A slow DSL-like plan so tbf can put the line below and above it cheaply.
CONTRACT = """\
[plan]
id = "lab-dsl-40"
name = "Lab DSL 40"
technology = "DSL"
profile = "de-bnetza"

[plan.download]
maximum_mbps = 50
normally_available_mbps = 40
minimum_mbps = 20

[plan.upload]
maximum_mbps = 10
normally_available_mbps = 8
minimum_mbps = 4

[contract]
subscriber_id = "LAB-000001"
time_zone = "Europe/Berlin"
"""


@pytest.fixture
def alert_stack(shaped_lab: Lab, lab_server: str, tmp_path: Path) -> Iterator[Path]:
    """A second server, the receiver and Alertmanager; yields the receiver's output file."""
    if not Path(ALERTMANAGER).exists():
        pytest.skip("prometheus-alertmanager is not installed (.ci/setup installs it)")
    hook_file = tmp_path / "hook.jsonl"
    hook_file.touch()
    procs = [
        shaped_lab.popen(shaped_lab.server_ns, [
            sys.executable, "-m", "probe", "serve", "--host", SERVER_IP,
            "--port", str(SECOND_PORT)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT),
        shaped_lab.popen(shaped_lab.client_ns, [
            sys.executable, "-c", RECEIVER, str(HOOK_PORT), str(hook_file)]),
    ]
    am = Alertmanager(tmp_path / "am", f"http://127.0.0.1:{HOOK_PORT}/hook")
    am.port = AM_PORT
    procs.append(shaped_lab.popen(shaped_lab.client_ns, am.argv(),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    try:
        shaped_lab.wait_http(shaped_lab.client_ns, f"http://{SERVER_IP}:{SECOND_PORT}/healthz")
        shaped_lab.wait_http(shaped_lab.client_ns, f"http://127.0.0.1:{HOOK_PORT}/")
        shaped_lab.wait_http(shaped_lab.client_ns, f"{am.url}/-/ready")
        yield hook_file
    finally:
        for proc in reversed(procs):
            stop_process(proc)


def write_agent_config(tmp_path: Path, lab_server: str) -> Path:
    (tmp_path / "contract.toml").write_text(CONTRACT)
    config = tmp_path / "agent.toml"
    config.write_text(f"""\
[probe]
id = "lab-agent"
[contract]
file = "contract.toml"
[[servers]]
name = "on-net"
url = "{lab_server}"
role = "on-net"
[[servers]]
name = "off-net"
url = "http://{SERVER_IP}:{SECOND_PORT}"
role = "off-net"
[measure]
duration_s = 4
streams = 2
[store]
db = "{tmp_path / 'probe.db'}"
[schedule]
interval_min = 0.1
peak_interval_min = 0.1
campaign = "off"
[clock]
require_sync = false
source = "off"      # this machine's clock is not synchronised; the clock gate has its own tests
[gating]
window_s = 1
cpu_load_max = 1.0   # the shared test machine is busy; the CPU gate has its table tests
[alerts]
[[alerts.alertmanager]]
url = "http://127.0.0.1:{AM_PORT}"
[metrics]
listen = ""
""")
    return config


def run_agent(the_lab: Lab, config: Path, runs: int) -> list[dict[str, object]]:
    proc = subprocess.run(
        the_lab.exec_argv(the_lab.client_ns, [
            sys.executable, "-m", "probe", "agent", "--config", str(config),
            "--runs", str(runs)]),
        capture_output=True, text=True, timeout=180, check=False, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def notifications(hook_file: Path, count: int, timeout_s: float = 20.0) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout_s
    while True:
        lines = [json.loads(x) for x in hook_file.read_text().splitlines() if x.strip()]
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.2)


def test_confirmed_shortfall_fires_once_and_resolves_once(
        shaped_lab: Lab, lab_server: str, alert_stack: Path, tmp_path: Path) -> None:
    config = write_agent_config(tmp_path, lab_server)
    # 30 Mbit/s reads ~28.7: below the normally available 40, above the minimum 20.
    shaped_lab.shape(down_mbps=30, up_mbps=20)
    events = run_agent(shaped_lab, config, runs=1)  # one scheduled test (+ its retest)
    retests = [e for e in events if e["event"] == "retest"]
    assert len(retests) == 1, "\n".join(json.dumps(e) for e in events)
    stored = [e for e in events if e["event"] == "test stored"]
    assert [e["server"] for e in stored] == [lab_server, f"http://{SERVER_IP}:{SECOND_PORT}"]
    assert [e["verdict"] for e in stored] == ["shortfall", "shortfall"]
    firing = notifications(alert_stack, 1)
    assert len(firing) == 1
    body = firing[0]
    assert body["status"] == "firing"
    [alert] = body["alerts"]  # type: ignore[misc]
    assert alert["labels"]["criterion"] == "download/b-normal"
    assert alert["labels"]["subscriber"] == "LAB-000001"
    assert alert["labels"]["probe"] == "lab-agent"
    assert "misses normally available 40 Mbit/s" in alert["annotations"]["summary"]

    # The line is fixed; a restarted agent (state from the store) sends one "resolved".
    shaped_lab.shape(down_mbps=60, up_mbps=20)
    events = run_agent(shaped_lab, config, runs=1)
    assert [e["verdict"] for e in events if e["event"] == "test stored"] == ["pass"]
    assert not [e for e in events if e["event"] == "retest"]
    both = notifications(alert_stack, 2)
    time.sleep(3)  # nothing else may arrive (no repeat, no second firing)
    both = notifications(alert_stack, 3, timeout_s=0)
    assert [b["status"] for b in both] == ["firing", "resolved"]
    with SqliteStore.open(tmp_path / "probe.db") as store:
        kept = store.events("alert")
    assert [(e.detail["status"], e.detail["labels"]["criterion"]) for e in kept] == [
        ("firing", "download/b-normal"), ("resolved", "download/b-normal")]
