"""Gating on a real interface: iperf3 cross-traffic through the client's veth defers the
agent's scheduled test (each deferral is stored with the rate seen), a quiet line lets it go,
and a test run beside cross-traffic carries it on its record.

Everything runs inside the client namespace (``ip netns exec`` shows that namespace's
/sys/class/net), reading the same counters a router's WAN interface has.
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
from tests.lab.netlab import SERVER_IP, Lab
from tests.support import ROOT, stop_process

pytestmark = [pytest.mark.lab, pytest.mark.services, pytest.mark.slow]

CROSS_MBPS = 2.0

LOOK_SCRIPT = """
import asyncio, json, sys
from probe.agent.gatekeeper import look
from probe.agent.gating import GatingPolicy
from probe.hostfacts.counters import CounterReader, route_interface

reader = CounterReader(route_interface(sys.argv[1]))
decision = asyncio.run(look(reader, GatingPolicy(window_s=2.0, cpu_load_max=None)))
print(json.dumps({"interface": reader.interface, "decision": decision.to_json_dict()}))
"""

WATCH_SCRIPT = """
import asyncio, json, sys
from probe.agent.gatekeeper import measure_watched
from probe.agent.gating import GatingPolicy
from probe.client import run_measurement
from probe.engine.plan import MeasurePlan
from probe.hostfacts.counters import CounterReader, route_interface

server = sys.argv[1]
reader = CounterReader(route_interface(server))
plan = MeasurePlan(duration_s=4.0, streams=2)
record = asyncio.run(measure_watched(reader, GatingPolicy(),
                                     lambda: run_measurement(plan, server)))
print(json.dumps(record.to_json_dict()))
"""


def in_client(the_lab: Lab, script: str, *args: str) -> dict[str, object]:
    proc = subprocess.run(
        the_lab.exec_argv(the_lab.client_ns, [sys.executable, "-c", script, *args]),
        capture_output=True, text=True, timeout=90, check=False)
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout))


@pytest.fixture(scope="module")
def iperf_server(shaped_lab: Lab) -> Iterator[None]:
    server = shaped_lab.popen(shaped_lab.server_ns, ["iperf3", "-s", "-B", SERVER_IP],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    try:
        yield
    finally:
        stop_process(server)


def cross_traffic(the_lab: Lab, seconds: int) -> subprocess.Popen[str]:
    """iperf3 at CROSS_MBPS of payload from the client (a household upload, say)."""
    proc = the_lab.popen(the_lab.client_ns, [
        # 8 KiB writes: with iperf3's default 128 KiB blocks a 2 Mbit/s flow is two bursts a
        # second, and a gate window of about a second saw 1.5 or 2 Mbit/s by its alignment.
        "iperf3", "-c", SERVER_IP, "-b", f"{CROSS_MBPS}M", "-l", "8K", "-t", str(seconds)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.5)  # connected and at rate before the gate looks
    return proc


def agent_config(tmp_path: Path, server: str) -> Path:
    config = tmp_path / "agent.toml"
    config.write_text(f"""\
[probe]
id = "lab-probe"
[contract]
file = "{ROOT / 'contracts' / 'de-cable-1000.toml'}"
[[servers]]
name = "on-net"
url = "{server}"
[[servers]]
name = "off-net"
url = "{server}"
[measure]
duration_s = 1
streams = 2
[store]
db = "{tmp_path / 'agent.db'}"
[schedule]
interval_min = 0.1
peak_interval_min = 0.1
campaign = "off"
[clock]
require_sync = false
source = "off"
[gating]
window_s = 1
backoff_s = 2
max_defer_s = 120
cpu_load_max = 1.0   # the shared test machine is busy; the CPU gate has its table tests
[alerts]
retest = false
[metrics]
listen = ""
""")
    return config


def test_cross_traffic_defers_the_agents_test_and_is_recorded(
        shaped_lab: Lab, lab_server: str, iperf_server: None, tmp_path: Path) -> None:
    """`probe agent` with iperf3 running through the client's interface: the scheduled test
    is deferred (each deferral stored with the rate seen) until the flow ends, then runs."""
    shaped_lab.shape(down_mbps=50, up_mbps=20)
    config = agent_config(tmp_path, lab_server)
    # The flow runs until the agent has deferred its test at least twice (however slowly the
    # agent starts on a loaded machine), then stops so the test can run.
    iperf = cross_traffic(shaped_lab, 120)
    agent = shaped_lab.popen(shaped_lab.client_ns, [
        sys.executable, "-m", "probe", "agent", "--config", str(config), "--runs", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    lines: list[str] = []
    try:
        assert agent.stdout is not None
        for line in agent.stdout:
            lines.append(line)
            if sum('"event":"test deferred"' in x for x in lines) >= 2:
                break
        stop_process(iperf)
        out, err = agent.communicate(timeout=120)
    finally:
        stop_process(iperf)
        stop_process(agent)
    assert agent.returncode == 0, err + "".join(lines) + out
    events = [json.loads(line) for line in [*lines, *out.splitlines()] if line.startswith("{")]
    names = [e["event"] for e in events]
    deferred = [e for e in events if e["event"] == "test deferred"]
    assert deferred, names
    assert names.index("test deferred") < names.index("test stored")
    # The rate seen is the iperf3 flow on the wire: payload x 1514/1448 plus the ACKs.
    wire_kbps = CROSS_MBPS * 1e3 * 1514 / 1448
    for e in deferred:
        assert e["cross_traffic_kbps"] == pytest.approx(wire_kbps, rel=0.15)
        assert "above 64 kbit/s" in e["reason"]
    with SqliteStore.open(tmp_path / "agent.db") as store:
        kept = store.events("deferred")
        [record] = store.history()
    assert len(kept) == len(deferred)
    assert kept[0].probe_id == "lab-probe"
    assert kept[0].detail["cross_traffic_kbps"] == pytest.approx(wire_kbps, rel=0.15)
    assert [e.detail["deferrals"] for e in kept] == list(range(1, len(kept) + 1))
    # The test itself ran on a quiet line, and says so.
    assert record.measurement.cross_traffic_kbps is not None
    assert "cross_traffic" not in record.measurement.flags
    print(f"deferred {len(kept)} times at "
          f"{', '.join(str(round(e.detail['cross_traffic_kbps'])) for e in kept)} kbit/s")


def test_quiet_line_goes(shaped_lab: Lab, lab_server: str) -> None:
    out = in_client(shaped_lab, LOOK_SCRIPT, lab_server)
    assert out["interface"] == shaped_lab.client_dev
    decision = out["decision"]
    assert isinstance(decision, dict)
    assert decision["action"] == "go", decision
    assert decision["cross_traffic_kbps"] < 64


def test_record_carries_the_cross_traffic_seen_during_the_test(
        shaped_lab: Lab, lab_server: str, iperf_server: None) -> None:
    shaped_lab.shape(down_mbps=20, up_mbps=20)
    quiet = in_client(shaped_lab, WATCH_SCRIPT, lab_server)
    # Without cross-traffic the interface carried only the test (framing + ACK model).
    assert quiet["flags"] == []
    assert isinstance(quiet["cross_traffic_kbps"], float)
    iperf = cross_traffic(shaped_lab, 40)
    try:
        busy = in_client(shaped_lab, WATCH_SCRIPT, lab_server)
    finally:
        stop_process(iperf)
    assert "cross_traffic" in busy["flags"]
    assert isinstance(busy["cross_traffic_kbps"], float)
    assert busy["cross_traffic_kbps"] > 1000
    print(f"cross-traffic seen: quiet {quiet['cross_traffic_kbps']} kbit/s, "
          f"with {CROSS_MBPS} Mbit/s iperf3 {busy['cross_traffic_kbps']} kbit/s")
