"""Cost of storing one measurement (target: <= 5 ms): SqliteStore.save with raw samples, fsynced.

Each measurement carries 100 samples per direction and latency samples (about 8 kB of JSON),
like a 10 s run sampled every 100 ms. The store runs as in production: WAL, synchronous=FULL,
one transaction per save. The figures are quoted (with date and machine) in
docs/store-and-forward.md.

    .venv/bin/python benchmarks/bench_store.py [--count 2000] [--dir /var/tmp]
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from probe.measurement import DirectionResult, LatencyResult, Measurement, Sample  # noqa: E402
from probe.store import SqliteStore  # noqa: E402


def measurement(i: int, samples: int = 100) -> Measurement:
    def direction(rate: float) -> DirectionResult:
        step = int(rate * 1e6 / 8 * 0.1)
        return DirectionResult(
            goodput_mbps=rate, transferred_bytes=step * samples, window_start_s=2.0,
            window_end_s=10.0,
            samples=tuple(Sample(round(0.1 * (k + 1), 6), step * (k + 1)) for k in range(samples)),
            counted_at="client", loaded_rtts_ms=tuple(20.0 + k % 7 for k in range(20)),
            loaded_latency_ms=23.0, streams_completed=4,
        )

    return Measurement(
        id=str(uuid.uuid4()),
        # One a minute from 2025-01-01: 100 000 stay in the past (VictoriaMetrics silently
        # drops points more than a day or two in the future).
        started_at=datetime(2025, 1, 1, tzinfo=UTC) + timedelta(minutes=i),
        server="http://127.0.0.1:8080", streams=4, duration_s=10.0,
        latency=LatencyResult(tuple(10.0 + k % 3 for k in range(20)), 11.0, 10.0, 0.8),
        download=direction(93.7 + i % 5), upload=direction(18.2 + i % 3),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--dir", default=None, help="directory for the store (default: tmp)")
    args = parser.parse_args()
    records = [measurement(i) for i in range(args.count)]
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = Path(tmp) / "probe.db"
        with SqliteStore.open(path) as store:
            times_ms = []
            for m in records:
                t0 = time.perf_counter()
                store.save(m, probe_id="bench", subscriber_id="sub-1", verdict="pass")
                times_ms.append((time.perf_counter() - t0) * 1000)
            size = store.status().size_bytes
    times_ms.sort()
    q = statistics.quantiles(times_ms, n=100)
    print(f"bench_store {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"SQLite {sqlite3.sqlite_version}, store in {args.dir or tempfile.gettempdir()}")
    print(f"  {args.count} saves (WAL, synchronous=FULL, {size // args.count} B/measurement)")
    mean = statistics.fmean(times_ms)
    print(f"  per save: median {statistics.median(times_ms):.3f} ms, p95 {q[94]:.3f} ms, "
          f"p99 {q[98]:.3f} ms, max {times_ms[-1]:.3f} ms, mean {mean:.3f} ms")
    print(f"  target <= 5 ms per save: {'met' if q[94] <= 5 else 'NOT met'} (p95)")


if __name__ == "__main__":
    main()
