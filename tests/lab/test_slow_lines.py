"""Slow DSL/LTE-like lines (issue #13): every reading is right within ±2 % or flagged.

Uplinks of 0.5, 1, 2 and 5 Mbit/s and downlinks of 2 and 5 Mbit/s, each behind a short
(20 ms, at least 8 packets: see ``netlab.MIN_QUEUE_PACKETS``) and a deep (600 ms) tbf queue
with a two-packet burst, as a DSL modem has. Ground truth is R x 1448/1514. A reading outside
±2 % must carry a flag that makes it no evidence (``unsteady``, ``upload_not_counted``, ...),
and every direction must end within its duration + 1.5 s: a bound, not a timing target.

The shapers sit in a third namespace between the hosts (``lab(router=True)``), as a DSLAM or
BRAS sits between subscriber and server. With the shaper in the sending host's own qdisc (the
other lab topology) a drop-tail queue this short refuses the sender's packets locally, and a
stream refused 15 times in a row is aborted by its own kernel (``ETIMEDOUT``, the probe timer
counting against ``tcp_retries2``): 9 of 20 uploads at 2 Mbit/s were left uncounted that way
(2026-11-29 15:38, cubic). That is the lab's doing, not a DSL line's.

Short runs (6 s per direction) keep the matrix to about two minutes; the 20-round evidence
at 2 Mbit/s, and how often the flag fires, is ``benchmarks/bench_slow_lines.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.lab.netlab import GOODPUT_SHARE, Lab, lab, lab_unavailable_reason, probe_server

pytestmark = [pytest.mark.lab, pytest.mark.slow]

TOLERANCE = 0.02
DURATION_S = 6.0
DURATION_BOUND_S = 1.5
DSL_BURST_BYTES = 2 * 1514
# (downlink, uplink) Mbit/s, queue s: together they cover uplinks 0.5/1/2/5 and downlinks 2/5.
# All strict. The short-queue cases were xfails (2-3 % low now and then) until the lab stopped
# inheriting the machine's BBR: with the lab's ~14 us minimum round trip, BBR's bandwidth
# probes never saw the capacity freed when streams retired (tests/lab/netlab.py). A 6 s 2 Mbit/s
# download behind 600 ms that read +12.8 % unflagged once in CI is what the arrival check
# (probe/engine/arrivals.py) flags.
CASES = [
    pytest.param((2.0, 0.5, 0.02), id="2-0.5-queue20ms"),
    pytest.param((5.0, 1.0, 0.02), id="5-1-queue20ms"),
    pytest.param((2.0, 2.0, 0.02), id="2-2-queue20ms"),
    pytest.param((5.0, 5.0, 0.02), id="5-5-queue20ms"),
    pytest.param((2.0, 0.5, 0.6), id="2-0.5-queue600ms"),
    pytest.param((5.0, 1.0, 0.6), id="5-1-queue600ms"),
    pytest.param((2.0, 2.0, 0.6), id="2-2-queue600ms"),
    pytest.param((5.0, 5.0, 0.6), id="5-5-queue600ms"),
]


@pytest.fixture(scope="module")
def dsl_lab() -> Iterator[Lab]:
    """The lab with its shapers in a bridge namespace between the hosts."""
    reason = lab_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    with lab(router=True) as the_lab:
        yield the_lab


@pytest.fixture(scope="module")
def dsl_server(dsl_lab: Lab) -> Iterator[str]:
    with probe_server(dsl_lab) as url:
        yield url


def measure(the_lab: Lab, url: str, *, portable: bool = False) -> dict[str, Any]:
    env = dict(os.environ)
    if portable:
        env["PROBE_PORTABLE"] = "1"
    proc = subprocess.run(
        the_lab.exec_argv(the_lab.client_ns, [
            sys.executable, "-m", "probe", "measure", "--server", url, "--json", "--no-store",
            "--duration", str(DURATION_S)]),
        capture_output=True, text=True, timeout=120, check=False, env=env)
    assert proc.returncode == 0, proc.stderr
    record: dict[str, Any] = json.loads(proc.stdout)
    return record


def problems(record: dict[str, Any], down_mbps: float, up_mbps: float, *,
             bounded: bool = True) -> list[str]:
    """Readings outside ±2 % without a flag that disqualifies them, and overlong directions."""
    found = []
    flags = set(record["flags"])
    for name, rate in (("download", down_mbps), ("upload", up_mbps)):
        details = record[name]
        truth = rate * GOODPUT_SHARE
        value = record[f"{name}_mbps"]
        flagged = (details["steady"] is False or f"{name}_streams_ended_early" in flags
                   or "client_cpu_limited" in flags
                   or (name == "upload" and "upload_not_counted" in flags))
        if value is None and not flagged:
            found.append(f"{name}: no figure and no flag")
        elif value is not None and abs(value / truth - 1) > TOLERANCE and not flagged:
            found.append(f"{name}: {value:.3f} Mbit/s vs {truth:.3f} "
                         f"({(value / truth - 1) * 100:+.1f} %), unflagged")
        if bounded and details["elapsed_s"] > DURATION_S + DURATION_BOUND_S:
            found.append(f"{name}: took {details['elapsed_s']:.2f} s for {DURATION_S:g} s")
    return found


@pytest.mark.parametrize("case", CASES)
def test_right_or_flagged_and_bounded(dsl_lab: Lab, dsl_server: str,
                                      case: tuple[float, float, float]) -> None:
    down_mbps, up_mbps, queue_s = case
    dsl_lab.shape(down_mbps=down_mbps, up_mbps=up_mbps, queue_s=queue_s,
                  burst_bytes=DSL_BURST_BYTES)
    record = measure(dsl_lab, dsl_server)
    found = problems(record, down_mbps, up_mbps)
    assert [p for p in found if " took " in p] == [], found
    # Both receivers' arrivals were counted (the check ran), and they are an upper bound.
    for name in ("download", "upload"):
        arrived = record["samples"][f"{name}_arrived"]
        if name == "upload" and "upload_not_counted" in record["flags"]:
            continue
        assert arrived, name
        assert record[name]["counted_ahead_share"] is not None
        assert record[name]["losses_seen"] in (True, False)
        assert arrived[-1][1] >= record["samples"][name][-1][1] * 0.99
    assert found == [], record["flags"]


def test_portable_path_measures(dsl_lab: Lab, dsl_server: str) -> None:
    """Without the Linux fast paths (PROBE_PORTABLE=1, as on macOS/Windows) it still measures,
    within the same duration bound.

    Without TIOCOUTQ the upload ends its feeding by the queueing delay the loaded pings see
    plus what waits unsent (probe/client/transfer.py, ``_drain_s``). An answer later than the
    deadline + ``ANSWER_GRACE_S`` (a tail segment waiting out a chain of timeouts: once in
    ~40 CI runs) is not awaited and the upload is left uncounted; then the run is repeated
    once, as a user would. Accuracy is the fast path's known short-queue miss, and more: the
    portable download's count lags by what the kernel holds unread (no FIONREAD), and read
    -2.3 % unflagged once in CI (xfail below, accuracy only).
    """
    dsl_lab.shape(down_mbps=5.0, up_mbps=2.0, queue_s=0.02, burst_bytes=DSL_BURST_BYTES)
    record = measure(dsl_lab, dsl_server, portable=True)
    assert [p for p in problems(record, 5.0, 2.0) if " took " in p] == [], record["flags"]
    if "upload_not_counted" in record["flags"]:
        record = measure(dsl_lab, dsl_server, portable=True)
    found = problems(record, 5.0, 2.0)
    assert [p for p in found if " took " in p] == [], found
    assert record["download_mbps"] is not None
    assert record["upload"]["counted_at"] == "server"
    assert record["samples"]["download_arrived"] is None  # TCP_INFO is a Linux fast path
    if found:
        pytest.xfail(f"issue #13 portable short-queue miss: {found} {record['flags']}")


def test_shapers_sit_between_the_hosts(dsl_lab: Lab) -> None:
    """Both directions are shaped in the bridge namespace; the hosts' own qdiscs are not."""
    dsl_lab.shape(down_mbps=5.0, up_mbps=5.0, queue_s=0.02, burst_bytes=DSL_BURST_BYTES)
    qdiscs = {ns: subprocess.run(["tc", "-n", ns, "qdisc", "show"], capture_output=True,
                                 text=True, check=True).stdout
              for ns in (dsl_lab.router_ns, dsl_lab.client_ns, dsl_lab.server_ns)}
    assert qdiscs[dsl_lab.router_ns].count("qdisc tbf") == 2, qdiscs
    assert "tbf" not in qdiscs[dsl_lab.client_ns] + qdiscs[dsl_lab.server_ns]
