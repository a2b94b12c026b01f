"""Accuracy and cost of ``probe measure`` against iperf3 in the shaped two-namespace lab.

For each rate (and unshaped) it interleaves, ``--rounds`` times: ``probe measure`` (both
directions), ``iperf3 -R`` (download) and ``iperf3`` (upload), with the same duration of traffic
and number of streams. It reports

- accuracy: measured goodput / (R x 1448/1514) - 1, for both tools;
- throughput ratio probe / iperf3 (the figure that matters unshaped, where the CPU is the limit);
- CPU-seconds per GB moved: client (process accounting via wait4) + server (/proc/<pid>/stat
  deltas), divided by the bytes that crossed the client's veth (/proc/net/dev in the client
  namespace) - one byte count for both tools, so neither tool's own counting is trusted;
- CPU-seconds per run (client + server), which shows the fixed cost of one invocation
  (interpreter start-up and imports, latency pings, storing the record) that dominates the
  per-GB figure at low rates.

Run as root:  .venv/bin/python benchmarks/bench_measure.py [--rates 10,100,500] [--rounds 2]
It prints a markdown table and writes benchmarks/results/measure-<date>.json.
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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.lab.netlab import SERVER_IP, Lab, lab  # noqa: E402
from tests.support import stop_process  # noqa: E402

PY = str(ROOT / ".venv" / "bin" / "python")
CLK_TCK = os.sysconf("SC_CLK_TCK")
PROBE_PORT = 8080
IPERF_PORT = 5201
# iperf3 -O omits its first second from the report but still sends during it, so -t is the
# duration minus that second: both tools move traffic for the same time, as the probe's own
# warm-up is inside its duration too. (Until 2026-11-28 16:50 UTC iperf3 ran -t <duration>
# -O 1, i.e. 9 s of traffic against the probe's 8, which spread its fixed cost over ~12 % more
# bytes.)
IPERF_OMIT_S = 1.0


@dataclass
class Run:
    tool: str
    direction: str
    rate_mbps: float | None
    goodput_mbps: float
    link_bytes: int
    client_cpu_s: float
    server_cpu_s: float


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def tree_cpu_s(pid: int) -> float:
    """CPU of a server process and its children (``probe serve --workers`` forks)."""
    total = proc_cpu_s(pid)
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        for child in children.read_text().split():
            total += tree_cpu_s(int(child))
    return total


def link_bytes(the_lab: Lab) -> int:
    out = subprocess.run(the_lab.exec_argv(the_lab.client_ns, ["cat", "/proc/net/dev"]),
                         capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        name, _, rest = line.partition(":")
        if name.strip() == the_lab.client_dev:
            cols = rest.split()
            return int(cols[0]) + int(cols[8])
    raise RuntimeError("client veth not found in /proc/net/dev")


def run_child_cpu(the_lab: Lab, argv: list[str]) -> tuple[str, float]:
    """Run a client in the client namespace; return stdout and its CPU seconds.

    ``ip netns exec`` execs the command in place, so the child's rusage is the client's.
    """
    before = os.times()
    proc = subprocess.run(the_lab.exec_argv(the_lab.client_ns, argv), capture_output=True,
                          text=True, timeout=300, check=False)
    after = os.times()
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[:4]} failed ({proc.returncode}): {proc.stderr.strip()[:300]}")
    cpu_s = (after.children_user - before.children_user) + (
        after.children_system - before.children_system)
    return proc.stdout, cpu_s


def measure_probe(the_lab: Lab, server_pid: int, rate: float | None, *, duration_s: float,
                  streams: int, extra: list[str]) -> list[Run]:
    runs = []
    for direction in ("down", "up"):
        b0, s0 = link_bytes(the_lab), tree_cpu_s(server_pid)
        out, cpu = run_child_cpu(the_lab, [
            PY, "-m", "probe", "measure", "--server", f"http://{SERVER_IP}:{PROBE_PORT}",
            "--duration", str(duration_s), "--streams", str(streams), "--direction", direction,
            "--json", *extra])
        b1, s1 = link_bytes(the_lab), tree_cpu_s(server_pid)
        record = json.loads(out)
        key = "download_mbps" if direction == "down" else "upload_mbps"
        runs.append(Run("probe", direction, rate, float(record[key]), b1 - b0, cpu, s1 - s0))
    return runs


# A long-lived client process, as the home-router agent will be: start-up is paid once, and each
# measurement's CPU is the getrusage delta around run_measurement (the record is not stored).
RESIDENT = r"""
import asyncio, json, resource, sys
from probe.client import run_measurement
from probe.engine.plan import MeasurePlan

url, duration_s, streams = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])


def cpu_s():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def main():
    for line in sys.stdin:
        direction = line.strip()
        plan = MeasurePlan(duration_s=duration_s, streams=streams, directions=(direction,))
        before = cpu_s()
        m = await run_measurement(plan, url)
        mbps = m.download_mbps if direction == "down" else m.upload_mbps
        print(json.dumps({"mbps": mbps, "cpu_s": cpu_s() - before}), flush=True)

asyncio.run(main())
"""


class ResidentClient:
    """One resident client process in the client namespace, measuring on request."""

    def __init__(self, the_lab: Lab, duration_s: float, streams: int) -> None:
        self.proc = subprocess.Popen(
            the_lab.exec_argv(the_lab.client_ns, [
                PY, "-c", RESIDENT, f"http://{SERVER_IP}:{PROBE_PORT}", str(duration_s),
                str(streams)]),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)})

    def measure(self, direction: str) -> tuple[float, float]:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(direction + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"resident client exited ({self.proc.wait()})")
        answer = json.loads(line)
        return float(answer["mbps"]), float(answer["cpu_s"])

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def measure_resident(the_lab: Lab, server_pid: int, rate: float | None,
                     client: ResidentClient) -> list[Run]:
    runs = []
    for direction in ("down", "up"):
        b0, s0 = link_bytes(the_lab), tree_cpu_s(server_pid)
        mbps, cpu = client.measure(direction)
        b1, s1 = link_bytes(the_lab), tree_cpu_s(server_pid)
        runs.append(Run("probe", direction, rate, mbps, b1 - b0, cpu, s1 - s0))
    return runs


def measure_iperf(the_lab: Lab, server_pid: int, rate: float | None, *, duration_s: float,
                  streams: int) -> list[Run]:
    runs = []
    for direction, rev in (("down", ["-R"]), ("up", [])):
        b0, s0 = link_bytes(the_lab), tree_cpu_s(server_pid)
        out, cpu = run_child_cpu(the_lab, [
            "iperf3", "-c", SERVER_IP, "-p", str(IPERF_PORT), *rev,
            "-t", f"{duration_s - IPERF_OMIT_S:g}", "-O", f"{IPERF_OMIT_S:g}",
            "-P", str(streams), "-J"])
        b1, s1 = link_bytes(the_lab), tree_cpu_s(server_pid)
        bps = json.loads(out)["end"]["sum_received"]["bits_per_second"]
        runs.append(Run("iperf3", direction, rate, bps / 1e6, b1 - b0, cpu, s1 - s0))
    return runs


def bench(rates: list[float | None], rounds: int, duration_s: float, streams: int,
          probe_extra: list[str], *, resident: bool = False) -> list[Run]:
    runs: list[Run] = []
    for rate in rates:
        # Unshaped runs keep offloads on: that is how a host's stack normally runs, and the
        # comparison there is about CPU, not about what a shaper counts.
        with lab(offloads=rate is None) as the_lab:
            the_lab.shape(down_mbps=rate, up_mbps=rate)
            probe_srv = the_lab.popen(the_lab.server_ns, [
                PY, "-m", "probe", "serve", "--host", SERVER_IP, "--port", str(PROBE_PORT)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            iperf_srv = the_lab.popen(the_lab.server_ns, [
                "iperf3", "-s", "-B", SERVER_IP, "-p", str(IPERF_PORT)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            client: ResidentClient | None = None
            try:
                the_lab.wait_http(the_lab.client_ns, f"http://{SERVER_IP}:{PROBE_PORT}/healthz")
                time.sleep(0.3)
                client = ResidentClient(the_lab, duration_s, streams) if resident else None
                if client is not None:
                    measure_resident(the_lab, probe_srv.pid, rate, client)  # warm-up, dropped
                for i in range(rounds):
                    label = "unshaped" if rate is None else f"{rate:g} Mbit/s"
                    print(f"# {label}: round {i + 1}/{rounds}", file=sys.stderr, flush=True)
                    if client is not None:
                        runs += measure_resident(the_lab, probe_srv.pid, rate, client)
                    else:
                        runs += measure_probe(the_lab, probe_srv.pid, rate,
                                              duration_s=duration_s, streams=streams,
                                              extra=probe_extra)
                    runs += measure_iperf(the_lab, iperf_srv.pid, rate, duration_s=duration_s,
                                          streams=streams)
            finally:
                if client is not None:
                    client.close()
                for proc in (probe_srv, iperf_srv):
                    stop_process(proc)
    return runs


def table(runs: list[Run]) -> str:
    lines = [
        "| rate | dir | truth Mbit/s | probe Mbit/s | probe err median (worst) | iperf3 Mbit/s "
        "| iperf3 err median (worst) "
        "| probe/iperf3 | probe CPU s/GB (cli+srv) | iperf3 CPU s/GB (cli+srv) | CPU ratio "
        "| CPU-s per run probe / iperf3 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    keys = sorted({(r.rate_mbps or 1e12, r.direction) for r in runs})
    for rate_key, direction in keys:
        rate = None if rate_key == 1e12 else rate_key
        sel = {tool: [r for r in runs if r.rate_mbps == rate and r.direction == direction
                      and r.tool == tool] for tool in ("probe", "iperf3")}
        truth = None if rate is None else rate * 1448 / 1514

        def mean(tool: str, sel: dict[str, list[Run]] = sel) -> float:
            return statistics.fmean(r.goodput_mbps for r in sel[tool])

        def cpu_gb(tool: str, sel: dict[str, list[Run]] = sel) -> tuple[float, float]:
            gb = sum(r.link_bytes for r in sel[tool]) / 1e9
            cli = sum(r.client_cpu_s for r in sel[tool]) / gb
            srv = sum(r.server_cpu_s for r in sel[tool]) / gb
            return cli, srv

        def err(tool: str, sel: dict[str, list[Run]] = sel, truth: float | None = truth) -> str:
            """Median error over the rounds, and the worst round in brackets."""
            if truth is None:
                return "-"
            errors = [r.goodput_mbps / truth - 1 for r in sel[tool]]
            worst = max(errors, key=abs)
            return f"{statistics.median(errors) * 100:+.2f} % ({worst * 100:+.2f})"

        def per_run(tool: str, sel: dict[str, list[Run]] = sel) -> float:
            """Client + server CPU-seconds of one run: shows the fixed per-run cost."""
            return statistics.fmean(r.client_cpu_s + r.server_cpu_s for r in sel[tool])

        pc, ps = cpu_gb("probe")
        ic, is_ = cpu_gb("iperf3")
        lines.append(
            f"| {'unshaped' if rate is None else f'{rate:g}'} | {direction} | "
            f"{'-' if truth is None else f'{truth:.2f}'} | {mean('probe'):.2f} | {err('probe')} | "
            f"{mean('iperf3'):.2f} | {err('iperf3')} | {mean('probe') / mean('iperf3'):.3f} | "
            f"{pc + ps:.2f} ({pc:.2f}+{ps:.2f}) | {ic + is_:.2f} ({ic:.2f}+{is_:.2f}) | "
            f"{(pc + ps) / (ic + is_):.2f} | {per_run('probe'):.3f} / {per_run('iperf3'):.3f} |")
    return "\n".join(lines)


def cost_fit(runs: list[Run]) -> str:
    """Per tool and direction, over the shaped runs: CPU-s per run = fixed + marginal x GB.

    Every run lasts the same time, so "fixed" is what one run costs whatever it moves
    (start-up, pings, timers) and "marginal" is what each further GB costs: the data path.
    """
    lines = ["| tool | dir | fixed CPU-s per run | marginal CPU-s/GB | runs |",
             "|---|---|---|---|---|"]
    for tool in ("probe", "iperf3"):
        for direction in ("down", "up"):
            sel = [r for r in runs if r.tool == tool and r.direction == direction
                   and r.rate_mbps is not None]
            if len({r.rate_mbps for r in sel}) < 2:
                continue
            fit = statistics.linear_regression([r.link_bytes / 1e9 for r in sel],
                                               [r.client_cpu_s + r.server_cpu_s for r in sel])
            lines.append(f"| {tool} | {direction} | {fit.intercept:.3f} | {fit.slope:.3f} "
                         f"| {len(sel)} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="10,20,100,200,500,unshaped",
                        help="comma-separated Mbit/s, 'unshaped' for none")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--streams", type=int, default=4)
    parser.add_argument("--probe-arg", action="append", default=[],
                        help="extra argument for probe measure (repeatable)")
    parser.add_argument("--resident", action="store_true",
                        help="measure from one long-lived client process (as the agent will) "
                             "instead of a fresh `probe measure` per run; its CPU is the "
                             "getrusage delta around each measurement (start-up excluded)")
    args = parser.parse_args()
    rates = [None if r == "unshaped" else float(r) for r in args.rates.split(",")]
    started = datetime.now(UTC)
    runs = bench(rates, args.rounds, args.duration, args.streams, args.probe_arg,
                 resident=args.resident)
    md = table(runs)
    header = (f"{started:%Y-%m-%d} on {platform.node()} ({os.cpu_count()} cores, "
              f"{platform.machine()}, kernel {platform.release()}, Python "
              f"{platform.python_version()}), {args.duration:g} s per direction, "
              f"{args.streams} streams, {args.rounds} rounds"
              + (", resident client (start-up excluded)" if args.resident else ""))
    print(header)
    print(md)
    fit = cost_fit(runs)
    if fit.count("\n") > 1:
        print("\nCPU-s per run fitted over the shaped rates: fixed + marginal x GB moved")
        print(fit)
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    name = f"measure-{started:%Y%m%d-%H%M}{'-resident' if args.resident else ''}.json"
    (out / name).write_text(json.dumps(
        {"header": header, "runs": [r.__dict__ for r in runs]}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
