"""Slow DSL-like lines, many rounds (issue #13): how often a reading is off, and how often flagged.

Builds the lab of ``tests/lab/netlab.py`` (needs root), shapes both directions with tbf at
each of ``--rates`` behind each ``--queues`` depth (two-packet burst; ``clean`` is the lab's
ordinary shaper: 50 ms or 100 packets of queue, a 2 ms bucket, on which a flag should be
rare), and runs ``probe measure`` for
``--rounds`` rounds, alternating with iperf3 (``-P 4 -O 1``) for ``--iperf-rounds`` of them.
Prints one line per round and a summary per queue: median and worst error against
R x 1448/1514, how many readings were flagged, and how many were outside ±2 % *unflagged*
(the issue's target: none), how many had no figure, and how many uploads were counted from a
late stream's partial status (``upload.partial_streams``, docs/measurement.md "Late answers").
Raw records go to ``benchmarks/results/slow-lines-<stamp>.json``.

Both hosts run cubic (``--congestion``; netlab.py says why not the machine's own BBR). For slow
DSL-like queues use ``--router``: the shapers then sit between the hosts, as a DSLAM does, and
not in the sender's own qdisc, where a short drop-tail queue refuses packets locally until the
kernel aborts the stream (docs/performance.md, "Cubic in the lab"). ``--streams 2 --duration 4``
is what the lab's agent and gating tests run: how often a short test on a clean line is flagged.

    sudo .venv/bin/python benchmarks/bench_slow_lines.py --router --rates 2 --rounds 20
    sudo .venv/bin/python benchmarks/bench_slow_lines.py --rates 2,10,20,100 --queues clean
    sudo .venv/bin/python benchmarks/bench_slow_lines.py --rates 20 --queues clean \
        --duration 4 --streams 2 --iperf-rounds 0 [--router]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.rawrecords import print_table, save_raw  # noqa: E402
from tests.lab.netlab import GOODPUT_SHARE, SERVER_IP, Lab, lab  # noqa: E402
from tests.support import stop_process  # noqa: E402

PORT = 8080
IPERF_PORT = 5299
TOLERANCE = 0.02
BURST_BYTES = 2 * 1514


def probe_round(the_lab: Lab, duration_s: float, streams: int) -> dict[str, Any]:
    started = time.monotonic()
    proc = subprocess.run(
        the_lab.exec_argv(the_lab.client_ns, [
            sys.executable, "-m", "probe", "measure", "--server", f"http://{SERVER_IP}:{PORT}",
            "--json", "--no-store", "--duration", str(duration_s), "--streams", str(streams)]),
        capture_output=True, text=True, check=False, cwd=ROOT)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip()[-200:], "wall_s": time.monotonic() - started}
    record: dict[str, Any] = json.loads(proc.stdout)
    record["wall_s"] = time.monotonic() - started
    return record


def iperf_round(the_lab: Lab, duration_s: float, reverse: bool) -> float | None:
    proc = subprocess.run(
        the_lab.exec_argv(the_lab.client_ns, [
            "iperf3", "-c", SERVER_IP, "-p", str(IPERF_PORT), "-P", "4",
            "-t", str(int(duration_s)), "-O", "1", "-J", *(["-R"] if reverse else [])]),
        capture_output=True, text=True, check=False)
    try:
        return float(json.loads(proc.stdout)["end"]["sum_received"]["bits_per_second"]) / 1e6
    except (ValueError, KeyError):
        return None


def judge(record: dict[str, Any], name: str, truth: float) -> tuple[float | None, bool]:
    """(error as a share, flagged) for one direction of one record."""
    flags = set(record.get("flags", ()))
    details = record.get(name) or {}
    flagged = (details.get("steady") is False or f"{name}_streams_ended_early" in flags
               or "client_cpu_limited" in flags
               or (name == "upload" and "upload_not_counted" in flags))
    value = record.get(f"{name}_mbps")
    return (None if value is None else value / truth - 1), flagged


def run_queue(the_lab: Lab, args: argparse.Namespace, rate: float, queue_s: float | None,
              raw: list[dict[str, Any]]) -> list[str]:
    """All rounds at one rate behind one queue depth (None: the lab's clean shaper); the
    summary table's rows for it."""
    summary: list[str] = []
    truth = rate * GOODPUT_SHARE
    if queue_s is None:
        the_lab.shape(down_mbps=rate, up_mbps=rate)
    else:
        the_lab.shape(down_mbps=rate, up_mbps=rate, queue_s=queue_s, burst_bytes=BURST_BYTES)
    queue = "clean" if queue_s is None else f"{queue_s * 1000:.0f} ms"
    errors: dict[str, list[float]] = {"download": [], "upload": []}
    flagged = {"download": 0, "upload": 0}
    bad = {"download": 0, "upload": 0}
    # Readings without a figure, and uploads counted from a late stream's partial status
    # (upload.partial_streams, informative: docs/measurement.md, "Late answers").
    missing = {"download": 0, "upload": 0}
    partial = {"download": 0, "upload": 0}
    iperf_errors: dict[str, list[float]] = {"download": [], "upload": []}
    walls = []
    for i in range(args.rounds):
        record = probe_round(the_lab, args.duration, args.streams)
        raw.append({"rate_mbps": rate, "queue_s": queue_s, "round": i, "record": record})
        walls.append(record["wall_s"])
        line = [f"{rate:g} Mbit/s q={queue} round {i + 1:2d}:"]
        for name in ("download", "upload"):
            if "error" in record:
                line.append(f"{name} failed ({record['error']})")
                continue
            err, flag = judge(record, name, truth)
            flagged[name] += flag
            missing[name] += err is None
            from_status = bool((record.get(name) or {}).get("partial_streams"))
            partial[name] += from_status
            if err is not None:
                errors[name].append(err)
                bad[name] += (abs(err) > TOLERANCE and not flag)
            shown = "null" if err is None else f"{err * 100:+.2f} %"
            if from_status:
                shown += " (partial status)"
            elapsed = (record.get(name) or {}).get("elapsed_s") or 0.0
            line.append(f"{name} {shown}{' FLAGGED' if flag else ''} "
                        f"({elapsed:.1f} s)")
        if i < args.iperf_rounds:
            for name, reverse in (("download", True), ("upload", False)):
                read_mbps = iperf_round(the_lab, args.duration, reverse)
                if read_mbps is not None:
                    iperf_errors[name].append(read_mbps / truth - 1)
                    line.append(f"iperf3 {name} {(read_mbps / truth - 1) * 100:+.2f} %")
        print(" | ".join(line), flush=True)
    for name in ("download", "upload"):
        e = errors[name]
        ie = iperf_errors[name]
        summary.append(
            f"| {rate:g} | {queue} | {name} | {len(walls)} | {missing[name]} | "
            f"{partial[name]} | {statistics.median(e) * 100:+.2f} % | "
            f"{max(e, key=abs) * 100:+.2f} % | {flagged[name]} | {bad[name]} | "
            + (f"{statistics.median(ie) * 100:+.2f} % ({len(ie)})" if ie else "-")
            + f" | {max(walls):.1f} |")
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", "--rate", default="2",
                        help="Mbit/s, both directions, comma-separated")
    parser.add_argument("--queues", default="0.02,0.6",
                        help="tbf queue depths in s, comma-separated; 'clean' for the lab's "
                             "ordinary shaper")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--iperf-rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--streams", type=int, default=4,
                        help="parallel streams per direction (the probe's default is 4; the "
                             "lab's agent and gating tests use 2)")
    parser.add_argument("--router", action="store_true",
                        help="shape in a bridge namespace between the hosts (a DSLAM/BRAS), "
                             "not in the sender's own qdisc (tests/lab/netlab.py)")
    parser.add_argument("--congestion", default="cubic",
                        help="both hosts' TCP congestion control (default cubic, as the lab "
                             "tests; tests/lab/netlab.py says why not the machine's own)")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",") if r]
    queues = [None if q == "clean" else float(q) for q in args.queues.split(",") if q]
    stamp = datetime.now(UTC)
    load = os.getloadavg()
    print(f"{stamp:%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, load {load[0]:.2f} "
          f"{load[1]:.2f} {load[2]:.2f}; {args.rates} Mbit/s both ways (truth R x 1448/1514), "
          f"{args.duration:g} s per direction, {args.streams} streams, {args.congestion}"
          f"{', shaped in a bridge namespace' if args.router else ''}", flush=True)
    raw: list[dict[str, Any]] = []
    summary: list[str] = []
    with lab(router=args.router, congestion=args.congestion) as the_lab:
        server = the_lab.popen(the_lab.server_ns, [
            sys.executable, "-m", "probe", "serve", "--host", SERVER_IP, "--port", str(PORT)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
        iperf = the_lab.popen(the_lab.server_ns, ["iperf3", "-s", "-B", SERVER_IP, "-p",
                                                  str(IPERF_PORT)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            the_lab.wait_http(the_lab.client_ns, f"http://{SERVER_IP}:{PORT}/healthz")
            for rate in rates:
                for queue_s in queues:
                    summary += run_queue(the_lab, args, rate, queue_s, raw)
        finally:
            stop_process(server)
            stop_process(iperf)
    print_table(("Mbit/s", "queue", "dir", "rounds", "no figure", "from a partial status",
                 "median error", "worst error", "flagged",
                 "outside ±2 % unflagged", "iperf3 median error (rounds)",
                 "longest run s (both dirs)"), summary)
    save_raw("slow-lines", stamp, raw)
    return 0


if __name__ == "__main__":
    sys.exit(main())
