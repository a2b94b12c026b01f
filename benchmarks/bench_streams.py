"""Cost of the probe client per stream count on loopback, beside iperf3 (evidence for
DEFAULT_STREAMS and the client hot path; quoted in docs/measurement.md).

For each stream count it runs ``probe measure`` (one direction at a time) against a local
``probe serve`` and ``iperf3 -c`` against a local ``iperf3 -s``, and reports goodput and the
CPU-seconds per GB of client and server (process accounting: the client's from
``RUSAGE_CHILDREN``, the server's from /proc/PID/stat). Loopback has no line to measure: the
figures show what the software costs when the CPU is the only limit.

Run:  .venv/bin/python benchmarks/bench_streams.py [--streams 1,2,4,8] [--duration 5]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import free_port, stop_process, wait_http  # noqa: E402

PY = sys.executable
HZ = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / HZ


def children_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(argv: list[str], server_pid: int) -> tuple[str, float, float]:
    c0, s0 = children_cpu_s(), proc_cpu_s(server_pid)
    out = subprocess.run(argv, capture_output=True, text=True, check=True, cwd=ROOT).stdout
    return out, children_cpu_s() - c0, proc_cpu_s(server_pid) - s0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--streams", default="1,2,4,8")
    parser.add_argument("--duration", type=float, default=5.0)
    args = parser.parse_args()
    probe_port, iperf_port = free_port(), free_port()
    probe_srv = subprocess.Popen([PY, "-m", "probe", "serve", "--host", "127.0.0.1", "--port",
                                  str(probe_port)], cwd=ROOT, stderr=subprocess.DEVNULL)
    iperf_srv = subprocess.Popen(["iperf3", "-s", "-B", "127.0.0.1", "-p", str(iperf_port)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{probe_port}"
    rows = []
    try:
        wait_http(url + "/healthz")
        for n in (int(x) for x in args.streams.split(",")):
            for direction in ("down", "up"):
                out, c_cpu, s_cpu = timed(
                    [PY, "-m", "probe", "measure", "--server", url, "--duration",
                     str(args.duration), "--streams", str(n), "--direction", direction,
                     "--json"], probe_srv.pid)
                rec = json.loads(out)
                key = "download" if direction == "down" else "upload"
                gb = rec[f"{key}_bytes"] / 1e9
                rows.append(("probe", direction, n, rec[f"{key}_mbps"], c_cpu / gb, s_cpu / gb))
                out, c_cpu, s_cpu = timed(
                    ["iperf3", "-c", "127.0.0.1", "-p", str(iperf_port), "-t",
                     str(args.duration), "-P", str(n), "-J", *(["-R"] if direction == "down"
                                                            else [])], iperf_srv.pid)
                end = json.loads(out)["end"]["sum_received"]
                gb = end["bytes"] / 1e9
                rows.append(("iperf3", direction, n, end["bits_per_second"] / 1e6, c_cpu / gb,
                             s_cpu / gb))
    finally:
        for proc in (probe_srv, iperf_srv):
            stop_process(proc)
    print(f"loopback, {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
          f", {args.duration:g} s per run")
    print("| tool | dir | streams | Mbit/s | client CPU-s/GB | server CPU-s/GB |")
    print("|---|---|---:|---:|---:|---:|")
    for tool, direction, n, mbps, c, s in rows:
        print(f"| {tool} | {direction} | {n} | {mbps:,.0f} | {c:.3f} | {s:.3f} |")


if __name__ == "__main__":
    main()
