"""Every measurement engine in the namespace lab: accuracy against tbf ground truth and client
CPU per GB, at shaped rates and unshaped (docs/engines.md, "Benchmark").

Usage (root; builds its own namespaces)::

    .venv/bin/python benchmarks/bench_engines.py [--rates 20,100] [--duration 8] [--rounds 1]
        [--cpu-quota 0.5]

For each engine and condition: ``probe measure --backend ENGINE --json`` in the client
namespace against ``probe serve`` (native, LibreSpeed, Ookla legacy and ndt7 endpoints) or
``iperf3 -s`` in the server namespace. Accuracy = measured / (R x 1448/1514) on shaped links;
unshaped rows give the rate reached (a veth on this VM: the client's ceiling). CPU is the client
process tree's user+system time (iperf3's included) minus the interpreter's start-up and
imports (measured separately), per GB of payload moved in both directions. ``--cpu-quota Q``
runs the client in a cgroup v1 group limited to Q CPUs (a router's CPU).
"""

from __future__ import annotations

import argparse
import platform
import resource
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.cpuquota import cpu_quota  # noqa: E402
from tests.lab.engines_lab import ENGINES, engine_servers, run_engine  # noqa: E402
from tests.lab.netlab import Lab, lab  # noqa: E402

# What each engine's run imports before it measures (its start-up cost is subtracted).
IMPORTS = {
    "native": "import probe.cli.main, probe.cli.measure_cmd, probe.backends, probe.client",
    "librespeed": "import probe.cli.main, probe.cli.measure_cmd, probe.engines.librespeed",
    "speedtest": "import probe.cli.main, probe.cli.measure_cmd, probe.engines.speedtest, "
                 "speedtest",
    "ndt7": "import probe.cli.main, probe.cli.measure_cmd, probe.engines.ndt7",
    "iperf3": "import probe.cli.main, probe.cli.measure_cmd, probe.engines.iperf3",
}


def startup_cpu_s(the_lab: Lab, prefix: list[str], engine: str) -> float:
    """CPU an engine run spends before measuring: interpreter start-up and imports."""
    runs = []
    for _ in range(3):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([*prefix, *the_lab.exec_argv(the_lab.client_ns, [
            sys.executable, "-c", IMPORTS[engine]])], check=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        runs.append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="20,100", help="shaped rates in Mbit/s, comma-separated")
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--cpu-quota", type=float, default=None)
    parser.add_argument("--engines", default=",".join(ENGINES))
    args = parser.parse_args()
    rates: list[float | None] = [float(r) for r in args.rates.split(",") if r] + [None]
    engines = [e for e in args.engines.split(",") if e]
    started = datetime.now(UTC)
    rows = []
    with cpu_quota(args.cpu_quota, "engines") as prefix, lab() as the_lab, \
            engine_servers(the_lab):
        base_cpu = {engine: startup_cpu_s(the_lab, prefix, engine) for engine in engines}
        for rate in rates:
            the_lab.shape(down_mbps=rate, up_mbps=rate)
            for _ in range(args.rounds):
                for engine in engines:
                    run = run_engine(the_lab, engine, "--duration", f"{args.duration:g}",
                                     prefix=prefix)
                    if run.record is None:
                        rows.append((engine, rate, None, None, None, None,
                                     run.stderr.strip()[-80:]))
                        continue
                    rec = run.record
                    moved = (rec["download_bytes"] or 0) + (rec["upload_bytes"] or 0)
                    spent = max(0.0, run.cpu_s - base_cpu[engine])
                    cpu_per_gb = spent / (moved / 1e9) if moved else None
                    rows.append((engine, rate, rec["download_mbps"], rec["upload_mbps"],
                                 cpu_per_gb, ",".join(rec["flags"]) or "-", ""))
    quota = "unthrottled" if args.cpu_quota is None else f"client CPU quota {args.cpu_quota:g}"
    print(f"bench_engines {started:%Y-%m-%d %H:%M} UTC, {platform.node()}, "
          f"{len(__import__('os').sched_getaffinity(0))} CPUs, {quota}, {args.duration:g} s "
          f"per direction (ndt7: min(duration, 10 s)); start-up CPU subtracted: "
          + ", ".join(f"{e} {c:.2f} s" for e, c in base_cpu.items()))
    print("| engine | shaped Mbit/s | down Mbit/s | down / truth | up Mbit/s | up / truth "
          "| client CPU-s/GB | flags |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for engine, rate, down, up, cpu, flags, error in rows:
        if down is None and up is None:
            print(f"| {engine} | {rate or 'unshaped'} | failed: {error} | | | | | |")
            continue
        truth = None if rate is None else rate * 1448 / 1514

        def share(v: float | None, truth: float | None = truth) -> str:
            return "-" if v is None or truth is None else f"{v / truth:.3f}"

        print(f"| {engine} | {'unshaped' if rate is None else f'{rate:g}'} | {down:,.1f} | "
              f"{share(down)} | {up:,.1f} | {share(up)} | "
              f"{'-' if cpu is None else f'{cpu:.2f}'} | {flags} |")


if __name__ == "__main__":
    main()
