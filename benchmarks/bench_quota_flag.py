"""How often ``client_cpu_limited`` fires under a CPU quota, and whether it fires when it should.

Issue #13 (weak CPU): a client held to a fraction of a core is CPU-bound at rates a desktop
moves easily, and its record must say so; on a line slow enough for that CPU it must not. Two
namespaces on a veth (tbf-shaped to each rate in both directions, or unshaped); ``probe
serve`` unthrottled in the server namespace; ``probe measure`` (native engine, 4 streams) in
the client namespace inside a cgroup v1 group with ``cpu.cfs_quota_us`` = Q x 100 ms.

The client enters the namespace with ``nsenter --net`` rather than ``ip netns exec``: the
latter mounts a fresh ``/sys`` without the cgroup hierarchies, so the client could not read
its quota (a router or a container running the probe sees it). Each direction is judged from
its record: the CPU the client used over what it may use, the share of the quota's periods in
which it was throttled, and the record's flags; the error is against R x 1448/1514.

Run as root from the repository: ``sudo .venv/bin/python benchmarks/bench_quota_flag.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_cpu_quota import fmt, median_of  # noqa: E402
from benchmarks.cpuquota import cpu_quota  # noqa: E402
from benchmarks.rawrecords import print_table, save_raw  # noqa: E402
from tests.lab.engines_lab import engine_servers, server_for  # noqa: E402
from tests.lab.netlab import GOODPUT_SHARE, Lab, lab  # noqa: E402

DIRECTIONS = (("down", "download"), ("up", "upload"))


def measure(the_lab: Lab, prefix: list[str], duration_s: float) -> dict[str, Any] | None:
    """One ``probe measure --json`` in the client namespace (cgroup files still visible)."""
    proc = subprocess.run(
        [*prefix, "nsenter", f"--net=/run/netns/{the_lab.client_ns}", sys.executable, "-m",
         "probe", "measure", "--server", server_for("native"), "--json", "--no-store",
         "--duration", f"{duration_s:g}", "--streams", "4"],
        capture_output=True, text=True, timeout=180, check=False, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    if proc.returncode != 0 or not proc.stdout.strip():
        print(f"failed run: {proc.stderr.strip()[-300:]}", file=sys.stderr)
        return None
    record: dict[str, Any] = json.loads(proc.stdout)
    return record


def rows_of(record: dict[str, Any], quota: float | None, rate: float | None
            ) -> list[dict[str, Any]]:
    """One row per direction: rate, error, CPU used over allowed, throttled share, flags."""
    rows = []
    for short, name in DIRECTIONS:
        details = record.get(name) or {}
        mbps = record.get(f"{name}_mbps")
        elapsed, cpu = details.get("elapsed_s"), details.get("client_cpu_s")
        allowance = details.get("cpu_allowance")
        periods, throttled = details.get("cpu_periods"), details.get("cpu_throttled_periods")
        rows.append({
            "quota": quota, "rate": rate, "direction": short, "mbps": mbps,
            "error": (None if rate is None or mbps is None
                      else mbps / (rate * GOODPUT_SHARE) - 1),
            "cpu_share": None if not elapsed or cpu is None else cpu / elapsed,
            "allowance": allowance,
            "of_allowance": (None if not elapsed or cpu is None
                             else cpu / elapsed / min(1.0, allowance or 1.0)),
            "throttled_share": None if not periods or throttled is None else throttled / periods,
            "steady": details.get("steady"),
            "flags": record["flags"],
        })
    return rows


HEADER = ("client CPU quota", "shaped", "direction", "runs", "median Mbit/s", "median error",
          "CPU used / allowed", "throttled share of periods",
          "record flagged client_cpu_limited", "direction unsteady")


def table(rows: list[dict[str, Any]]) -> list[str]:
    lines = []
    keys = sorted({(r["quota"] or 9.0, r["rate"] or 1e9) for r in rows})
    for quota_key, rate_key in keys:
        for short, name in DIRECTIONS:
            group = [r for r in rows if (r["quota"] or 9.0, r["rate"] or 1e9)
                     == (quota_key, rate_key) and r["direction"] == short]
            if not group:
                continue
            quota, rate = group[0]["quota"], group[0]["rate"]
            flagged = sum("client_cpu_limited" in r["flags"] for r in group)
            unsteady = sum(r["steady"] is False for r in group)
            error = median_of(group, "error")
            lines.append(
                f"| {'none' if quota is None else f'{quota:.0%} of a core'} | "
                f"{'unshaped' if rate is None else f'{rate:g} Mbit/s'} | {name} | {len(group)} | "
                f"{fmt(median_of(group, 'mbps'))} | "
                f"{'-' if error is None else f'{error:+.1%}'} | "
                f"{fmt(median_of(group, 'of_allowance'), '.2f')} | "
                f"{fmt(median_of(group, 'throttled_share'), '.2f')} | "
                f"{flagged}/{len(group)} | {unsteady}/{len(group)} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quotas", default="0.1,0.25,none",
                        help="client CPU quotas as fractions of one core (none: no quota)")
    parser.add_argument("--rates", default="20,100,500,none",
                        help="tbf rates in Mbit/s, both directions (none: unshaped)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--duration", type=float, default=5.0)
    args = parser.parse_args()

    def values(text: str) -> list[float | None]:
        return [None if v == "none" else float(v) for v in text.split(",") if v]

    quotas, rates = values(args.quotas), values(args.rates)
    started, load = datetime.now(UTC), os.getloadavg()
    rows: list[dict[str, Any]] = []
    raw: list[dict[str, Any]] = []
    tag = f"flag-{os.getpid()}"
    with lab(offloads=True) as the_lab, engine_servers(the_lab):
        for rate in rates:
            the_lab.shape(down_mbps=rate, up_mbps=rate)
            for round_no in range(args.rounds):
                # Alternate the order of the quotas so load drifts hit each alike.
                order = quotas if round_no % 2 == 0 else quotas[::-1]
                for quota in order:
                    with cpu_quota(quota, tag) as prefix:
                        record = measure(the_lab, prefix, args.duration)
                    if record is not None:
                        raw.append({"quota": quota, "rate_mbps": rate, "record": record})
                        for row in rows_of(record, quota, rate):
                            rows.append(row)
                            print(json.dumps(row), file=sys.stderr, flush=True)
                    time.sleep(0.5)
    end_load = os.getloadavg()
    print(f"bench_quota_flag {started:%Y-%m-%d %H:%M} UTC, {platform.node()}, "
          f"{len(os.sched_getaffinity(0))} CPUs, kernel {platform.release()}, "
          f"Python {platform.python_version()}; veth (offloads on), tbf both directions, "
          f"4 streams, {args.duration:g} s per direction, {args.rounds} rounds; load average "
          f"{load[0]:.2f} at start, {end_load[0]:.2f} at end")
    print_table(HEADER, table(rows))
    save_raw("quota-flag", started, raw)


if __name__ == "__main__":
    main()
