"""Evaluate 1 M measurements of 10 k subscribers with de-bnetza and cn-miit; print the times.

Each subscriber has 100 measurements: 10 a day on every other local day (08:00 onwards, 10 min
apart, a 3 h pause after the 5th), so each has complete de-bnetza campaigns; rates are drawn
around the plan's figures so that verdicts differ. Subscribers are spread over four time zones.
The figures are quoted (with date and machine) in docs/compliance.md.

    .venv/bin/python benchmarks/bench_evaluate.py [--subscribers 10000] [--per-subscriber 100]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections import Counter
from datetime import date

import numpy as np
import pandas as pd

from probe.compliance.contract import Contract, DirectionRates, Plan
from probe.compliance.fleet import evaluate_fleet

ZONES = ("Europe/Berlin", "Asia/Shanghai", "America/New_York", "Europe/London")


def fleet(subscribers: int, per_subscriber: int, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = subscribers * per_subscriber
    sub = np.repeat(np.arange(subscribers), per_subscriber)
    k = np.tile(np.arange(per_subscriber), subscribers)
    day, slot = k // 10, k % 10
    # 2026-03-02 08:00 UTC, every other day, 10 min apart, +3 h after the 5th of a day.
    start_s = 1772438400 + 8 * 3600
    t_s = start_s + day * 2 * 86400 + slot * 600 + (slot >= 5) * 3 * 3600 + rng.integers(0, 60, n)
    # Half the lines deliver (1.1 × plan), half somewhere between 60 % and 100 % of it.
    quality = np.where(rng.random(subscribers) < 0.5, 1.1,
                       rng.uniform(0.6, 1.0, subscribers))[sub]
    down = 1000 * quality * rng.uniform(0.9, 1.05, n)
    up = 50 * quality * rng.uniform(0.9, 1.05, n)
    frame = pd.DataFrame({
        "subscriber_id": pd.Categorical.from_codes(sub, [f"S{i:05d}" for i in range(subscribers)]),
        "started_at": pd.to_datetime(t_s, unit="s", utc=True),
        "download_mbps": down, "upload_mbps": up,
        "latency_ms": rng.uniform(5, 40, n), "flagged": rng.random(n) < 0.01,
    })
    return frame


def contracts(subscribers: int, plan: Plan) -> dict[str, Contract]:
    return {f"S{i:05d}": Contract(f"S{i:05d}", plan, ZONES[i % len(ZONES)], "",
                                  date(2026, 1, 1)) for i in range(subscribers)}


DE = Plan("de-cable-1000", "Kabel 1000", "cable", "de-bnetza",
          DirectionRates(1000, 850, 600, 1000), DirectionRates(50, 35, 15))
CN = Plan("cn-ftth-1000", "光纤宽带 1000M", "FTTH", "cn-miit",
          DirectionRates(maximum_mbps=1000), DirectionRates(maximum_mbps=50))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--per-subscriber", type=int, default=100)
    parser.add_argument("--ids", choices=("none", "unique", "doubled"), default="none",
                        help="add measurement ids (deduplication runs); 'doubled': the input "
                        "concatenated with itself, so half the rows are duplicates")
    args = parser.parse_args()
    frame = fleet(args.subscribers, args.per_subscriber)
    if args.ids != "none":
        frame["id"] = [f"m{i}" for i in range(len(frame))]
    if args.ids == "doubled":
        frame = pd.concat([frame, frame], ignore_index=True)
    print(f"{len(frame):,} measurements (ids: {args.ids}), {args.subscribers:,} subscribers; "
          f"{platform.python_version()}, pandas {pd.__version__}, numpy {np.__version__}, "
          f"{os.cpu_count()} CPUs, {platform.machine()}")
    for plan in (DE, CN):
        fleet_contracts = contracts(args.subscribers, plan)
        best = float("inf")
        for _ in range(3):
            began = time.perf_counter()
            results = evaluate_fleet(frame, fleet_contracts)
            best = min(best, time.perf_counter() - began)
        verdicts = Counter(e.verdict for e in results)
        print(f"{plan.profile:<10} best of 3: {best:6.2f} s  "
              f"({len(frame) / best / 1e6:.2f} M measurements/s)  verdicts {dict(verdicts)}")


if __name__ == "__main__":
    main()
