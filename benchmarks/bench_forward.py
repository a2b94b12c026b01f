"""Forwarder throughput into a real VictoriaMetrics on loopback (target: >= 50 000 points/s).

Fills a SQLite store with N measurements (samples included, as ``probe measure`` stores them),
then times ``Forwarder.drain()`` end to end: read the outbox, encode line protocol, POST through
influxdb-client's synchronous API, mark delivered (synchronous=FULL commit) — batch after batch.
Afterwards it reads VictoriaMetrics back to check every point arrived (outside the timing).
The figures are quoted (with date and machine) in docs/store-and-forward.md.

    .venv/bin/python benchmarks/bench_forward.py [--count 100000] [--batch-size 5000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_store import measurement  # noqa: E402

from probe.sinks.config import SinkConfig  # noqa: E402
from probe.sinks.forwarder import Forwarder, ForwardPolicy  # noqa: E402
from probe.sinks.influx import InfluxWriter  # noqa: E402
from probe.store import RetentionPolicy, SqliteStore  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_vm(data: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        ["victoria-metrics", f"-httpListenAddr=127.0.0.1:{port}",
         f"-storageDataPath={data}", "-dedup.minScrapeInterval=1ms", "-retentionPeriod=100y",
         "-loggerLevel=ERROR"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1):
                return proc, url
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("VictoriaMetrics did not start")


def cpu_seconds(pid: int) -> float:
    """User+system CPU time of a process, from /proc (clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def count_points(url: str) -> int:
    urllib.request.urlopen(f"{url}/internal/force_flush", timeout=30).read()
    q = urllib.parse.urlencode({"match[]": 'broadband_download_mbps{probe_id="bench"}'})
    with urllib.request.urlopen(f"{url}/api/v1/export?{q}", timeout=60) as resp:
        return sum(len(json.loads(line)["values"]) for line in resp if line.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=5000)
    args = parser.parse_args()
    load0 = f"{os.getloadavg()[0]:.2f}"
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_vm(Path(tmp) / "vm")
        try:
            policy = RetentionPolicy(max_age_days=None, max_bytes=None)
            with SqliteStore.open(Path(tmp) / "probe.db", policy=policy) as store:
                # Setup only: fill without an fsync per row; the timed part runs with FULL.
                store._conn.execute("PRAGMA synchronous = OFF")
                t0 = time.perf_counter()
                for i in range(args.count):
                    store.save(measurement(i, samples=20), probe_id="bench")
                fill_s = time.perf_counter() - t0
                store._conn.execute("PRAGMA synchronous = FULL")
                writer = InfluxWriter(SinkConfig.create(kind="victoriametrics", url=url))
                forwarder = Forwarder(store, writer, ForwardPolicy(batch_size=args.batch_size))
                vm_cpu0, cpu0 = cpu_seconds(proc.pid), time.process_time()
                t0 = time.perf_counter()
                report = forwarder.drain()
                drain_s = time.perf_counter() - t0
                probe_cpu_s = time.process_time() - cpu0
                vm_cpu_s = cpu_seconds(proc.pid) - vm_cpu0
                writer.close()
                backlog = store.status().backlog
            arrived = count_points(url)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    rate = report.delivered / drain_s
    print(f"bench_forward {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}, VictoriaMetrics on loopback")
    print(f"  filled {args.count} measurements in {fill_s:.1f} s (setup, not timed)")
    print(f"  drained {report.delivered} points in {drain_s:.2f} s, batch {args.batch_size}: "
          f"{rate:,.0f} points/s ({rate * 11:,.0f} field values/s)")
    print(f"  CPU during the drain: forwarder {probe_cpu_s:.2f} s "
          f"({report.delivered / probe_cpu_s:,.0f} points per CPU-second), "
          f"VictoriaMetrics {vm_cpu_s:.2f} s; load average before/after {load0} / "
          f"{os.getloadavg()[0]:.2f} (other processes share the {os.cpu_count()} CPUs)")
    print(f"  backlog after: {backlog}; points read back from VictoriaMetrics: {arrived}")
    if report.failure is not None:
        print(f"  the pass stopped: {report.failure.message}")
    print(f"  target >= 50 000 points/s: {'met' if rate >= 50_000 else 'NOT met'}")
    if arrived != args.count or backlog:
        raise SystemExit("not every point arrived")


if __name__ == "__main__":
    main()
