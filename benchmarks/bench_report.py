"""`probe report` end to end over a simulated fleet: 10 M measurements of 100 k subscribers.

Target (issue 11): <= 20 s on 2 cores, including reading the data. Each round runs the real
command as a user would (a fresh process: imports, contract files, Parquet, evaluation,
roll-up, JSON), once with the single-process engine and once on a 2-worker dask LocalCluster,
alternating, and prints wall time, CPU time of the process tree and the load average before
the round (the machine is shared). Both engines' outputs must be identical. The fleet is drawn
once by `probe simulate` (not timed) into --data.

    .venv/bin/python benchmarks/bench_report.py [--subscribers 100000] [--days 11]
        [--rounds 3] [--engines local,dask] [--data /tmp/bench-report]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path


def _cpu_children_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _probe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "probe", *args], capture_output=True,
                          text=True, check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=11)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--engines", default="local,dask")
    parser.add_argument("--data", type=Path, default=Path("/tmp/bench-report"))
    args = parser.parse_args()
    fleet = args.data / f"fleet-{args.subscribers}x{args.days}"
    if not (fleet / "fleet.json").is_file():
        print(f"drawing the fleet into {fleet} (not timed) ...", flush=True)
        made = _probe("simulate", "--subscribers", str(args.subscribers), "--days",
                      str(args.days), "--seed", "7", "--out", str(fleet))
        if made.returncode != 0:
            raise SystemExit(made.stderr)
    drawn = json.loads((fleet / "fleet.json").read_text())
    import pandas as pd
    import pyarrow as pa

    files = len(list((fleet / "measurements").glob("*.parquet")))
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {drawn['measurements']:,} measurements, "
          f"{drawn['subscribers']:,} subscribers, {files} "
          f"Parquet files; Python {platform.python_version()}, pandas {pd.__version__}, "
          f"pyarrow {pa.__version__}, {os.cpu_count()} CPUs", flush=True)
    outputs: dict[str, dict[str, object]] = {}
    engines = [e for e in args.engines.split(",") if e]
    for round_no in range(1, args.rounds + 1):
        for engine in engines:
            out = args.data / f"report-{engine}.json"
            command = ["report", "--source", f"parquet:{fleet / 'measurements'}",
                       "--contracts", str(fleet / "contracts"), "--by", "plan,region",
                       "--format", "json", "-o", str(out), "--engine", engine]
            if engine == "dask":
                command += ["--workers", "2"]
            load = os.getloadavg()[0]
            cpu0, began = _cpu_children_s(), time.perf_counter()
            result = _probe(*command)
            wall, cpu = time.perf_counter() - began, _cpu_children_s() - cpu0
            if result.returncode != 0:
                raise SystemExit(result.stderr)
            data = json.loads(out.read_text())
            data["meta"].pop("engine")
            outputs[engine] = data
            o = data["overall"]
            print(f"round {round_no} {engine:<5} wall {wall:6.1f} s  cpu {cpu:6.1f} s  "
                  f"load avg before {load:4.1f}  subscribers {o['subscribers']:,}  "
                  f"shortfall {o['shortfall']:,}  compliant "
                  f"{o['compliant_subscribers']['share']:.4f}", flush=True)
    if len(outputs) > 1:
        first = next(iter(outputs.values()))
        same = all(v == first for v in outputs.values())
        print(f"engines agree exactly: {same}")


if __name__ == "__main__":
    main()
