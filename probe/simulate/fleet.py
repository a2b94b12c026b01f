"""Draw a fleet: N subscribers (one probe each) × D days of measurements, seeded and repeatable.

What makes it realistic, and where each effect is drawn:

- **schedule**: ``per_day`` tests a local day at fixed local hours (evening hours first, so a
  us-fcc week has its 18:00–24:00 tests, and the 5th and 6th test ≥ 3 h apart for de-bnetza),
  each up to 40 min late;
- **diurnal dip**: the rate drops in the local evening (a smooth bump peaking at 21:00, depth =
  the region's ``peak_dip``) and latency rises with it;
- **plans and lines**: the plan's off-peak ``delivery``; each line a lognormal quality, and 12 %
  are "bad lines" at 45–80 % (long copper, a tired modem) — so some plans and regions fall short;
- **Wi-Fi**: 5 % of probes measure over Wi-Fi: rates capped at 60–400 Mbit/s, tests flagged
  ``wifi`` (they do not count as evidence); 1 % of other tests are flagged ``cross_traffic``;
- **outages and gaps**: 15 % of probes are offline 1–3 consecutive days, 3 % of tests are
  missed at random, 4 % of contracts start on day 3 (earlier tests do not count).

Everything comes from one ``numpy.random.Generator(seed)``, so a seed gives the same fleet on
any machine. No clock: the first day is a parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt
import pandas as pd

from probe.compliance.contract import Contract, Plan
from probe.simulate.catalogue import PLANS, REGIONS, PlanModel, Region, regions_for

# Local hours in the order a schedule takes them: evening first, then daytime.
HOUR_PREFERENCE = (20, 8, 21, 10, 18, 15, 22, 7, 9, 11, 13, 19, 23, 12, 14, 16, 17, 6, 5, 4,
                   3, 2, 1, 0)
WIFI_SHARE = 0.05
CROSS_TRAFFIC_SHARE = 0.01
BAD_LINE_SHARE = 0.08
OUTAGE_SHARE = 0.15
MISSED_SHARE = 0.03
LATE_START_SHARE = 0.04
LATE_JITTER_S = 40 * 60
PEAK_HOUR = 21.0
FLAG_CHOICES = ("", "wifi", "cross_traffic")


@dataclass(frozen=True, slots=True)
class FleetSpec:
    subscribers: int
    days: int
    per_day: int = 10
    seed: int = 1
    start: date = date(2026, 3, 2)

    def __post_init__(self) -> None:
        if self.subscribers < 1 or self.days < 1:
            raise ValueError("a fleet needs at least one subscriber and one day")
        if not 1 <= self.per_day <= len(HOUR_PREFERENCE):
            raise ValueError(f"per_day must be 1..{len(HOUR_PREFERENCE)}, got {self.per_day}")


@dataclass(frozen=True, slots=True)
class Fleet:
    """The contracts (by subscriber id, in subscriber order) and their measurements.

    ``frame`` has one row per measurement, sorted by subscriber then time: ``probe_id``,
    ``subscriber_id`` (categorical), ``started_at`` (UTC,
    microseconds), ``download_mbps``, ``upload_mbps``, ``latency_ms``, ``flags`` ("" when
    none), and the contract's ``plan``/``region``/``technology`` for dashboards. ``ids`` holds
    each row's measurement id: 16 random bytes (a UUID), kept as one numpy array because ten
    million Python objects would cost more than drawing the whole fleet.
    """

    spec: FleetSpec
    contracts: dict[str, Contract]
    frame: pd.DataFrame
    ids: npt.NDArray[np.bytes_]

    @property
    def plans(self) -> list[Plan]:
        seen: dict[str, Plan] = {}
        for c in self.contracts.values():
            seen.setdefault(c.plan.id, c.plan)
        return list(seen.values())


def subscriber_id(region: str, index: int) -> str:
    return f"{region}-{index:07d}"


Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class _Lines:
    """Per-subscriber draws: plan, region, line quality, Wi-Fi, outage and contract start."""

    plan: Ints
    region: Ints
    quality: Floats
    wifi: npt.NDArray[np.bool_]
    wifi_cap: Floats
    late_start: npt.NDArray[np.bool_]
    outage: npt.NDArray[np.bool_]
    outage_first: Ints
    outage_len: Ints


def _draw_lines(rng: np.random.Generator, spec: FleetSpec) -> _Lines:
    n_sub = spec.subscribers
    weights = np.array([m.weight for m in PLANS], dtype=np.float64)
    plan_of = rng.choice(len(PLANS), size=n_sub, p=weights / weights.sum()).astype(np.int64)
    region_of = np.empty(n_sub, dtype=np.int64)
    region_index = {r.code: i for i, r in enumerate(REGIONS)}
    for p, model in enumerate(PLANS):
        members = np.flatnonzero(plan_of == p)
        choices = [region_index[r.code] for r in regions_for(model)]
        region_of[members] = rng.choice(choices, size=members.size)
    quality = rng.lognormal(0.0, 0.05, n_sub)
    bad = rng.random(n_sub) < BAD_LINE_SHARE
    quality[bad] = rng.uniform(0.45, 0.8, int(bad.sum()))
    return _Lines(
        plan=plan_of, region=region_of, quality=quality,
        wifi=rng.random(n_sub) < WIFI_SHARE, wifi_cap=rng.uniform(60, 400, n_sub),
        late_start=rng.random(n_sub) < LATE_START_SHARE,
        outage=rng.random(n_sub) < OUTAGE_SHARE,
        outage_first=rng.integers(0, spec.days, n_sub), outage_len=rng.integers(1, 4, n_sub),
    )


def _schedule(rng: np.random.Generator, spec: FleetSpec, lines: _Lines) -> tuple[Ints, Ints]:
    """(subscriber, local seconds since the first day's midnight) of every test taken."""
    hours = np.sort(np.array(HOUR_PREFERENCE[:spec.per_day], dtype=np.int64))
    per_sub = spec.days * spec.per_day
    sub = np.repeat(np.arange(spec.subscribers, dtype=np.int64), per_sub)
    k = np.tile(np.arange(per_sub, dtype=np.int64), spec.subscribers)
    day, slot = k // spec.per_day, k % spec.per_day
    first, length = lines.outage_first[sub], lines.outage_len[sub]
    offline = lines.outage[sub] & (day >= first) & (day < first + length)
    keep = (rng.random(sub.size) >= MISSED_SHARE) & ~offline
    sub, day, slot = sub[keep], day[keep], slot[keep]
    jitter = rng.integers(0, LATE_JITTER_S, sub.size)
    return sub, (day * 86_400 + hours[slot] * 3600 + jitter).astype(np.int64)


def _categorical(codes: Ints, categories: list[str]) -> pd.Categorical[str]:
    return pd.Categorical.from_codes(codes, categories=pd.Index(categories))


def simulate_fleet(spec: FleetSpec) -> Fleet:
    rng = np.random.default_rng(spec.seed)
    lines = _draw_lines(rng, spec)
    contracts = {}
    for i in range(spec.subscribers):
        region = REGIONS[lines.region[i]]
        sid = subscriber_id(region.code, i)
        start = spec.start + timedelta(days=2 if lines.late_start[i] else 0)
        contracts[sid] = Contract(sid, PLANS[lines.plan[i]].plan, region.time_zone,
                                  region.code, start)
    sub, local_s = _schedule(rng, spec, lines)
    n = sub.size
    plan_of, region_of = lines.plan[sub], lines.region[sub]
    t_us = _utc_us(spec.start, local_s, region_of)
    local_hour = (local_s % 86_400) / 3600.0

    # A smooth evening bump: 1 at 21:00, 0 outside ~17:00-01:00.
    dist = np.minimum(np.abs(local_hour - PEAK_HOUR), 24 - np.abs(local_hour - PEAK_HOUR))
    evening = np.clip(1 - (dist / 4.0) ** 2, 0, 1)
    dip = np.array([r.peak_dip for r in REGIONS])[region_of] * evening
    delivery = np.array([m.delivery for m in PLANS])[plan_of]
    line = delivery * lines.quality[sub] * (1 - dip)
    top_down = np.array([_top(m, "download") for m in PLANS])[plan_of]
    top_up = np.array([_top(m, "upload") for m in PLANS])[plan_of]
    down = np.minimum(top_down * line * rng.normal(1.0, 0.04, n), top_down * 1.05)
    up = np.minimum(top_up * line * rng.normal(1.0, 0.03, n), top_up * 1.05)
    on_wifi = lines.wifi[sub]
    capped = np.minimum(down, lines.wifi_cap[sub] * rng.uniform(0.7, 1.0, n))
    down = np.where(on_wifi, capped, down)
    down, up = np.clip(down, 0.1, None).round(3), np.clip(up, 0.05, None).round(3)
    base_latency = np.array([m.latency_ms for m in PLANS])[plan_of]
    latency = (base_latency * rng.lognormal(0.0, 0.15, n) * (1 + 1.5 * dip)
               + on_wifi * rng.exponential(4.0, n)).round(2)
    flag_code = np.where(on_wifi, 1, np.where(rng.random(n) < CROSS_TRAFFIC_SHARE, 2, 0))

    ids = list(contracts)
    technologies = sorted({m.plan.technology for m in PLANS})
    tech_of_plan = np.array([technologies.index(m.plan.technology) for m in PLANS])
    frame = pd.DataFrame({
        "probe_id": _categorical(sub, [f"probe-{s}" for s in ids]),
        "subscriber_id": _categorical(sub, ids),
        "started_at": pd.to_datetime(t_us, unit="us", utc=True),
        "download_mbps": down, "upload_mbps": up, "latency_ms": latency,
        "flags": _categorical(flag_code, list(FLAG_CHOICES)),
        "plan": _categorical(plan_of, [m.plan.id for m in PLANS]),
        "region": _categorical(region_of, [r.code for r in REGIONS]),
        "technology": _categorical(tech_of_plan[plan_of], technologies),
    })
    # Rows are already in subscriber then time order: slots are >= 1 h apart, jitter < 1 h.
    return Fleet(spec, contracts, frame, np.frombuffer(rng.bytes(16 * n), dtype="S16"))


def _top(model: PlanModel, direction: str) -> float:
    """The plan's top stated rate in a direction: maximum, else advertised, else minimum × 2."""
    rates = model.plan.rates(direction)
    if rates is None:
        return 0.0
    for value in (rates.maximum_mbps, rates.advertised_mbps):
        if value is not None:
            return value
    return 2 * (rates.minimum_mbps or 0.0)


def _utc_us(start: date, local_s: Ints, region_of_row: Ints) -> Ints:
    """Local wall-clock seconds since ``start`` 00:00 in each row's region → UTC microseconds."""
    base = np.datetime64(start.isoformat(), "s")
    out = np.empty(local_s.size, dtype=np.int64)
    zones: dict[str, list[int]] = {}
    for i, region in enumerate(REGIONS):
        zones.setdefault(region.time_zone, []).append(i)
    for zone, members in zones.items():
        rows = np.flatnonzero(np.isin(region_of_row, members))
        if rows.size == 0:
            continue
        wall = pd.DatetimeIndex(base + local_s[rows].astype("timedelta64[s]"))
        # A wall time in the spring-forward gap is moved forward (what a scheduler would do);
        # in the repeated autumn hour the first (summer-time) instant is taken.
        aware = wall.tz_localize(zone, nonexistent="shift_forward", ambiguous=True)
        out[rows] = aware.tz_convert("UTC").as_unit("us").asi8
    return out


def region_of(code: str) -> Region:
    return next(r for r in REGIONS if r.code == code)
