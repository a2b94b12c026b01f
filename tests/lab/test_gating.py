"""Gating on a real interface: iperf3 cross-traffic through the client's veth defers the
scheduled test (the deferral is stored with the rate seen), a quiet line lets it go, and a
test run beside cross-traffic carries it on its record.

The gatekeeper runs inside the client namespace (``ip netns exec`` shows that namespace's
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

from tests.lab.netlab import SERVER_IP, Lab
from tests.support import stop_process

pytestmark = [pytest.mark.lab, pytest.mark.services, pytest.mark.slow]

CROSS_MBPS = 2.0

GATE_SCRIPT = """
import asyncio, json, sys
from probe.agent.gatekeeper import wait_until_quiet
from probe.agent.gating import GatingPolicy
from probe.hostfacts.counters import CounterReader, route_interface
from probe.store import SqliteStore

server, db = sys.argv[1], sys.argv[2]
reader = CounterReader(route_interface(server))
policy = GatingPolicy(window_s=2.0, cpu_load_max=None, backoff_s=1.0, max_defer_s=4.0)
seen = []
with SqliteStore.open(db) as store:
    final = asyncio.run(wait_until_quiet(reader, policy, store, probe_id="lab-probe",
                                         on_decision=seen.append))
    events = [e.to_json_dict() for e in store.events()]
print(json.dumps({"interface": reader.interface, "final": final.to_json_dict(),
                  "seen": [d.to_json_dict() for d in seen], "events": events}))
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
plan = MeasurePlan(duration_s=3.0, streams=2)
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
        "iperf3", "-c", SERVER_IP, "-b", f"{CROSS_MBPS}M", "-t", str(seconds)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.5)  # connected and at rate before the gate looks
    return proc


def test_cross_traffic_defers_then_skips_and_is_recorded(
        shaped_lab: Lab, lab_server: str, iperf_server: None, tmp_path: Path) -> None:
    shaped_lab.shape(down_mbps=50, up_mbps=20)
    db = tmp_path / "agent.db"  # the namespace shares this host's file system
    iperf = cross_traffic(shaped_lab, 30)
    try:
        out = in_client(shaped_lab, GATE_SCRIPT, lab_server, str(db))
    finally:
        stop_process(iperf)
    assert out["interface"] == shaped_lab.client_dev
    final = out["final"]
    assert isinstance(final, dict)
    assert final["action"] == "skip"
    events = out["events"]
    assert isinstance(events, list)
    assert [e["kind"] for e in events] == ["deferred"] * (len(events) - 1) + ["skipped"]
    assert len(events) >= 2
    # The rate seen is the iperf3 flow on the wire: payload x 1514/1448 plus the ACKs.
    wire_kbps = CROSS_MBPS * 1e3 * 1514 / 1448
    for e in events:
        assert e["probe_id"] == "lab-probe"
        assert e["detail"]["cross_traffic_kbps"] == pytest.approx(wire_kbps, rel=0.15)
        assert "above 64 kbit/s" in e["detail"]["reason"]


def test_quiet_line_goes(shaped_lab: Lab, lab_server: str, tmp_path: Path) -> None:
    out = in_client(shaped_lab, GATE_SCRIPT, lab_server, str(tmp_path / "agent.db"))
    final = out["final"]
    assert isinstance(final, dict)
    assert final["action"] == "go", final
    assert final["cross_traffic_kbps"] < 64
    assert out["events"] == []


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
