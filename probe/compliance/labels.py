"""What a fleet point says about the contract behind it: the groups and the rates it was judged by.

A compliance team groups verdicts by plan, region, technology and peak vs off-peak hours, and
compares measured rates with contracted ones; the TSDB can only do that if every point carries
those values. :func:`fleet_labels` derives them from a :class:`Contract` and the measurement's
start, without I/O, so the router agent, ``probe check`` and the fleet simulator label points
identically. The sink encoder (``probe.sinks.lineprotocol``) writes them as tags and fields.

Rates, per direction the plan states:

- ``contract_*_mbps``: the headline contracted rate (maximum / theoretical, else advertised, else
  normally available) — the denominator of "measured / contracted";
- ``threshold_*_mbps``: the bar of the profile's primary per-test criterion (e.g. cn-miit
  k × theoretical, de-bnetza normally available, uk-ofcom minimum guaranteed, us-fcc 80 % of
  advertised) — the line a test must reach to count as compliant;
- ``minimum_*_mbps``: the plan's minimum rate, where it states one.

``period`` is ``peak`` when the test started inside the peak hours in the subscriber's local
time: the profile's ``peak_hours`` parameter where it has one (eu-berec), else
:data:`DEFAULT_PEAK_HOURS`, the evening busy hours regulators commonly use (BEREC's example and
the FCC's 19:00–23:00; Ofcom's 20:00–22:00 lies inside). That rule is :func:`in_peak` on the
local time of day in whole microseconds, and nowhere else: :func:`period_of` applies it to one
test (the ``period`` tag of every ``broadband`` point), :mod:`probe.compliance.periods` to a
fleet's rows (a subscriber's verdict per period).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from fractions import Fraction
from typing import TYPE_CHECKING, Any, overload

from probe.compliance.check import resolve_profile
from probe.compliance.contract import DIRECTIONS, Contract, Plan, RateName
from probe.compliance.params import Params
from probe.compliance.profiles import PROFILES

if TYPE_CHECKING:  # numpy is the analysis extra's; a router's agent labels tests without it
    import numpy as np
    import numpy.typing as npt

DEFAULT_PEAK_HOURS = (Fraction(19), Fraction(23))
HEADLINE_RATES: tuple[RateName, ...] = ("maximum", "advertised", "normally_available")
PERIODS = ("peak", "off_peak")
US_PER_HOUR = 3_600_000_000


@dataclass(frozen=True, slots=True)
class FleetLabels:
    """Tags (text) and contracted rates (numbers) of one per-test point; names match the sink's."""

    plan: str
    region: str
    technology: str
    profile: str
    period: str
    contract_download_mbps: float | None = None
    contract_upload_mbps: float | None = None
    threshold_download_mbps: float | None = None
    threshold_upload_mbps: float | None = None
    minimum_download_mbps: float | None = None
    minimum_upload_mbps: float | None = None
    threshold_latency_ms: float | None = None

    def to_json_dict(self) -> dict[str, Any]:
        """Only the values that are set (what the store keeps and the encoder reads)."""
        return {f.name: v for f in fields(self) if (v := getattr(self, f.name)) is not None}

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> FleetLabels:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def headline_mbps(plan: Plan, direction: str) -> float | None:
    """The contracted rate a measured rate is compared with (measured / contracted)."""
    rates = plan.rates(direction)
    if rates is None:
        return None
    for name in HEADLINE_RATES:
        value = rates.rate(name)
        if value is not None:
            return value
    return None


def peak_hours(contract: Contract, profile: str | None = None) -> tuple[Fraction, Fraction]:
    """Local peak hours [start, end) for this contract's profile (or the default)."""
    return _peak_hours(resolve_profile(contract, profile)[1])


def _peak_hours(params: Params) -> tuple[Fraction, Fraction]:
    configured = params.values.get("peak_hours")
    return configured if isinstance(configured, tuple) else DEFAULT_PEAK_HOURS


def peak_bounds_us(hours: tuple[Fraction, Fraction]) -> tuple[int, int]:
    """The peak hours [start, end) as microseconds of the local day: a whole-microsecond time
    of day ``t`` is inside ``hours`` exactly when ``start_us <= t < end_us`` (each bound
    rounded up, so a fractional hour bound keeps the exact comparison)."""
    return math.ceil(hours[0] * US_PER_HOUR), math.ceil(hours[1] * US_PER_HOUR)


@overload
def in_peak(of_day_us: int, bounds_us: tuple[int, int]) -> bool: ...
@overload
def in_peak(of_day_us: npt.NDArray[np.int64], bounds_us: tuple[int, int]
            ) -> npt.NDArray[np.bool_]: ...
def in_peak(of_day_us: Any, bounds_us: tuple[int, int]) -> Any:
    """Whether a local time of day (µs since local midnight) is peak: one test's (an int), or
    element by element a fleet's rows (a numpy array)."""
    return (bounds_us[0] <= of_day_us) & (of_day_us < bounds_us[1])


def period_of(contract: Contract, started_at: datetime, hours: tuple[Fraction, Fraction]) -> str:
    """``peak`` or ``off_peak`` for a test started at ``started_at`` (aware) in local time."""
    local = started_at.astimezone(contract.zone)
    of_day_us = ((local.hour * 60 + local.minute) * 60 + local.second) * 1_000_000 \
        + local.microsecond
    return "peak" if in_peak(of_day_us, peak_bounds_us(hours)) else "off_peak"


def fleet_labels(
    contract: Contract, started_at: datetime, *, profile: str | None = None
) -> FleetLabels:
    """The labels of a test of ``contract`` started at ``started_at`` (aware UTC)."""
    name, params = resolve_profile(contract, profile)
    spec = PROFILES[name]
    plan = contract.plan
    first: dict[str, float] = {}
    primary: dict[str, float] = {}
    for bar in spec.thresholds(plan, params):
        first.setdefault(bar.direction, bar.limit)
        if bar.id == spec.primary:
            primary.setdefault(bar.direction, bar.limit)
    bars = first | primary  # the primary criterion's bar; else the profile's first one
    rates: dict[str, float | None] = {}
    for direction in DIRECTIONS:
        own = plan.rates(direction)
        rates[f"contract_{direction}_mbps"] = headline_mbps(plan, direction)
        rates[f"threshold_{direction}_mbps"] = bars.get(direction)
        rates[f"minimum_{direction}_mbps"] = None if own is None else own.minimum_mbps
    return FleetLabels(
        plan=plan.id, region=contract.region, technology=plan.technology, profile=name,
        period=period_of(contract, started_at, _peak_hours(params)),
        threshold_latency_ms=bars.get("latency"), **rates,
    )
