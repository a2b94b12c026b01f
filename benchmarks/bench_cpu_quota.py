"""Throughput of ``probe measure`` against iperf3 with the client held to a CPU quota.

Issue #13 item 3: on a router the upload of a symmetric fibre line must be measured by the
line, not by the probe's CPU. Two namespaces on an unshaped veth (offloads on, as a real NIC
has them); the client side of each tool runs inside a cgroup v1 group with
``cpu.cfs_quota_us`` = Q x ``cpu.cfs_period_us`` (Q = 0.10 and 0.25 of one core by default);
the servers (``probe serve``, ``iperf3 -s``) run unthrottled in the server namespace.

Each round runs three clients one after the other, both directions, rotating which goes
first:

* ``probe measure --backend native`` (the probe);
* ``probe measure --backend iperf3``: ``iperf3 -c -J -i 0.1 -P 4`` with the same streams and
  duration, judged by the probe's own steady-state statistic on iperf3's 100 ms intervals, so
  that ratio compares the tools, not two statistics;
* plain ``iperf3 -c -P 4 -t D -O 1`` (``-R`` for download) with its default 1 s reports and
  its own receiver figure after omitting the first second: iperf3 as its users run it, without
  the cost of 100 ms JSON intervals.

The table gives medians over the rounds and the probe's median over each iperf3's median. The
interpreter's start-up happens before the probe starts its traffic, so it costs wall time,
not throughput.

Run as root from the repository: ``sudo .venv/bin/python benchmarks/bench_cpu_quota.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.cpuquota import cpu_quota, throttled  # noqa: E402
from tests.lab.engines_lab import IPERF3_PORT, engine_servers, run_engine  # noqa: E402
from tests.lab.netlab import SERVER_IP, Lab, lab  # noqa: E402

TOOLS = ("native", "iperf3", "iperf3-plain")
DIRECTIONS = (("down", "download"), ("up", "upload"))


def plain_iperf3(the_lab: Lab, prefix: list[str], duration_s: float, streams: int
                 ) -> dict[str, Any]:
    """``iperf3 -c`` as its users run it, each direction; its own receiver figure."""
    row: dict[str, Any] = {"flags": []}
    for short, reverse in (("down", ["-R"]), ("up", [])):
        proc = subprocess.run(
            [*prefix, *the_lab.exec_argv(the_lab.client_ns, [
                "iperf3", "-c", SERVER_IP, "-p", str(IPERF3_PORT), "-J", "-P", str(streams),
                "-t", f"{duration_s + 1:g}", "-O", "1", *reverse])],
            capture_output=True, text=True, timeout=120, check=False)
        try:
            mbps = json.loads(proc.stdout)["end"]["sum_received"]["bits_per_second"] / 1e6
        except (ValueError, KeyError, TypeError):
            row["error"] = (proc.stderr or proc.stdout).strip()[-200:]
            return row
        row[f"{short}_mbps"] = mbps
        time.sleep(0.5)
    return row


def one_run(the_lab: Lab, tool: str, *, quota: float, tag: str, prefix: list[str],
            duration_s: float, streams: int) -> dict[str, Any]:
    before = throttled(quota, tag)
    if tool == "iperf3-plain":
        plain = plain_iperf3(the_lab, prefix, duration_s, streams)
        after = throttled(quota, tag)
        plain.update(tool=tool, quota=quota)
        if before is not None and after is not None:
            plain["throttled_periods"] = after[0] - before[0]
        return plain
    run = run_engine(the_lab, tool, "--duration", f"{duration_s:g}", "--streams", str(streams),
                     prefix=prefix)
    after = throttled(quota, tag)
    row: dict[str, Any] = {"tool": tool, "quota": quota, "wall_s": round(run.wall_s, 2),
                           "cpu_s": round(run.cpu_s, 3)}
    if before is not None and after is not None:
        row["throttled_periods"] = after[0] - before[0]
    if run.record is None:
        row["error"] = run.stderr.strip()[-200:]
        row["flags"] = []
        return row
    rec = run.record
    method = rec.get("method") or {}
    for short, name in DIRECTIONS:
        row[f"{short}_mbps"] = rec[f"{name}_mbps"]
        row[f"{short}_own_mbps"] = method.get(f"engine_{name}_mbps")
        row[f"{short}_steady"] = (rec.get(name) or {}).get("steady")
    row["flags"] = rec["flags"]
    return row


def median_of(rows: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(values) if values else None


def fmt(value: float | None, spec: str = ",.1f") -> str:
    return "-" if value is None else format(value, spec)


def table(rows: list[dict[str, Any]], quotas: list[float]) -> list[str]:
    lines = [
        "| client CPU quota | direction | rounds | probe Mbit/s | iperf3 -i 0.1, probe's "
        "statistic | plain iperf3 -O 1, its own figure | probe / iperf3 (same statistic) | "
        "probe / plain iperf3 | probe range | iperf3 range | plain iperf3 range | probe flags "
        "| iperf3 flags |",
        "|---|---|---|---:|---:|---:|---:|---:|---|---|---|---|---|",
    ]
    for quota in quotas:
        for short, name in DIRECTIONS:
            probe = [r for r in rows if r["quota"] == quota and r["tool"] == "native"]
            iperf = [r for r in rows if r["quota"] == quota and r["tool"] == "iperf3"]
            plain = [r for r in rows if r["quota"] == quota and r["tool"] == "iperf3-plain"]
            p, i = median_of(probe, f"{short}_mbps"), median_of(iperf, f"{short}_mbps")
            own = median_of(plain, f"{short}_mbps")
            ratio = None if p is None or not i else p / i
            ratio_plain = None if p is None or not own else p / own

            def span(group: list[dict[str, Any]], key: str = f"{short}_mbps") -> str:
                values = [r[key] for r in group if r.get(key) is not None]
                return f"{min(values):,.0f}–{max(values):,.0f}" if values else "-"

            def flags(group: list[dict[str, Any]], short: str = short) -> str:
                # "unsteady" is the record's; count it for the direction that was unsteady.
                counts = Counter(f for r in group for f in r.get("flags", ())
                                 if not (f == "unsteady" and r.get(f"{short}_steady")))
                return ", ".join(f"{f} {n}/{len(group)}" for f, n in sorted(counts.items())) or "-"

            lines.append(
                f"| {quota:.0%} of a core | {name} | {len(probe)} | {fmt(p)} | "
                f"{fmt(i)} | {fmt(own)} | {fmt(ratio, '.2f')} | {fmt(ratio_plain, '.2f')} | "
                f"{span(probe)} | {span(iperf)} | {span(plain)} | {flags(probe)} | "
                f"{flags(iperf)} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quotas", default="0.1,0.25",
                        help="client CPU quotas as fractions of one core, comma-separated")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--streams", type=int, default=4)
    parser.add_argument("--offloads", choices=("on", "off"), default="on",
                        help="segmentation offloads on the veth pair (on: as a real NIC)")
    parser.add_argument("--out", type=Path, default=None,
                        help="also write every run as JSON here")
    parser.add_argument("--table-from", type=Path, default=None,
                        help="print the table of an earlier --out file and exit")
    args = parser.parse_args()
    quotas = [float(q) for q in args.quotas.split(",") if q]
    if args.table_from is not None:
        saved = json.loads(args.table_from.read_text())
        print("\n".join(table(saved, sorted({r["quota"] for r in saved}))))
        return
    started = datetime.now(UTC)
    load = os.getloadavg()
    rows: list[dict[str, Any]] = []
    tag = f"quota-{os.getpid()}"
    with lab(offloads=args.offloads == "on") as the_lab, engine_servers(the_lab):
        for quota in quotas:
            with cpu_quota(quota, tag) as prefix:
                for round_no in range(args.rounds):
                    shift = round_no % len(TOOLS)
                    order = TOOLS[shift:] + TOOLS[:shift]
                    for tool in order:
                        row = one_run(the_lab, tool, quota=quota, tag=tag, prefix=prefix,
                                      duration_s=args.duration, streams=args.streams)
                        row["round"] = round_no
                        rows.append(row)
                        print(json.dumps(row), file=sys.stderr, flush=True)
                        time.sleep(0.5)
    if args.out is not None:
        args.out.write_text(json.dumps(rows, indent=1))
    print(f"bench_cpu_quota {started:%Y-%m-%d %H:%M} UTC, {platform.node()}, "
          f"{len(os.sched_getaffinity(0))} CPUs, kernel {platform.release()}, "
          f"Python {platform.python_version()}; unshaped veth (offloads {args.offloads}), "
          f"{args.streams} streams, {args.duration:g} s per direction, {args.rounds} rounds; "
          f"load average at start {load[0]:.2f}")
    print("\n".join(table(rows, quotas)))
    errors = [r for r in rows if "error" in r]
    for row in errors:
        print(f"failed run: {row['tool']} quota {row['quota']}: {row['error']}")


if __name__ == "__main__":
    main()
