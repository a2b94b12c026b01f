"""Where `probe report`'s time goes, stage by stage, on the fleet bench_report.py draws.

Runs the stages of the single-process `probe report` in this process (the same calls
probe/cli/report_cmd.py makes) and prints wall, CPU and system time of each: imports,
contracts, Parquet read, coverage, intake, the per-plan windows, the rule functions,
summary, roll-up, JSON. `windows` (frame.windows_by_plan) is timed inside the evaluation
by wrapping it; `rules` is the rest of the evaluation. The fleet must
exist (run bench_report.py once). Not a test: the machine is shared, so quote the load.

    .venv/bin/python benchmarks/profile_report.py [--data /tmp/bench-report/fleet-100000x11]
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

_stages: list[tuple[str, float, float, float]] = []


def _clock() -> tuple[float, float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return time.perf_counter(), usage.ru_utime + usage.ru_stime, usage.ru_stime


def _timed(name: str, work: Callable[[], Any]) -> Any:
    wall0, cpu0, sys0 = _clock()
    result = work()
    wall1, cpu1, sys1 = _clock()
    _stages.append((name, wall1 - wall0, cpu1 - cpu0, sys1 - sys0))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/tmp/bench-report/fleet-100000x11"))
    parser.add_argument("--by", default="plan,region")
    args = parser.parse_args()
    load = os.getloadavg()[0]

    def imports() -> Any:
        from probe.cli import report_cmd, report_sources
        from probe.compliance import fleet, intake
        from probe.report import render, rollup, summary

        return report_cmd, report_sources, fleet, intake, render, rollup, summary

    report_cmd, sources, fleet, intake, render, rollup, summary = _timed(
        "imports", imports)
    contracts = _timed("contracts", lambda: sources.load_contract_dir(args.data / "contracts"))
    gc.freeze()  # as report_cmd.run does
    source = sources.parse_source(f"parquet:{args.data / 'measurements'}")
    table = _timed("parquet read", lambda: sources.read_source(source, None, None))
    meta = _timed("coverage", lambda: report_cmd._coverage(table, contracts))
    taken = _timed("intake", lambda: intake.take_in(table, contracts))
    windows_by_plan = fleet.windows_by_plan

    def timed_windows(*args: Any) -> Any:
        return _timed("windows", lambda: windows_by_plan(*args))

    fleet.windows_by_plan = timed_windows
    evaluations = _timed("rules", lambda: fleet.evaluate_intake(taken, contracts))
    rows = _timed("summary", lambda: summary.summarise(evaluations, contracts))
    report = _timed("roll-up", lambda: rollup.rollup(rows, args.by.split(","), meta))
    _timed("json", lambda: render.to_json(report))

    windows = next(s for s in _stages if s[0] == "windows")
    print(f"{len(table):,} measurements, {len(contracts):,} subscribers; "
          f"load average before {load:.1f}")
    print(f"{'stage':<16}{'wall s':>8}{'cpu s':>8}{'of which sys':>14}")
    total = [0.0, 0.0, 0.0]
    for name, *measured in _stages:
        # rules: the evaluation without the windows, which ran inside it
        spent = ([a - b for a, b in zip(measured, windows[1:], strict=True)]
                 if name == "rules" else measured)
        total = [t + s for t, s in zip(total, spent, strict=True)]
        print(f"{name:<16}{spent[0]:8.2f}{spent[1]:8.2f}{spent[2]:14.2f}")
    print(f"{'total':<16}{total[0]:8.2f}{total[1]:8.2f}{total[2]:14.2f}")


if __name__ == "__main__":
    main()
