"""What the simulator draws subscribers from: plans as sold, regions, and how lines behave there.

The plans mirror ``contracts/*.toml`` (one or two per rule profile). Each plan carries how well
its lines deliver off-peak (``delivery``: median measured / contracted top rate) and each region
how deep its evening dip is (``peak_dip``: share of the rate lost at the busiest hour). Two
plans are deliberately under-delivering (an oversold cable plan, a fixed-wireless plan) and
one region is congested, so a simulated fleet has shortfalls to find by plan and by region.
"""

from __future__ import annotations

from dataclasses import dataclass

from probe.compliance.contract import DirectionRates, Plan


@dataclass(frozen=True, slots=True)
class PlanModel:
    """A plan and how its lines behave: off-peak delivery and idle latency."""

    plan: Plan
    weight: float  # share of subscribers (relative)
    delivery: float  # median measured / top contracted rate, off-peak
    latency_ms: float  # typical idle latency of the access technology
    countries: tuple[str, ...]  # region prefixes the plan is sold in


@dataclass(frozen=True, slots=True)
class Region:
    code: str  # ISO 3166-2
    time_zone: str
    peak_dip: float  # share of the rate lost at the busiest evening hour


def _rates(maximum: float | None = None, normal: float | None = None,
           minimum: float | None = None, advertised: float | None = None) -> DirectionRates:
    return DirectionRates(maximum, normal, minimum, advertised)


PLANS: tuple[PlanModel, ...] = (
    PlanModel(Plan("cn-ftth-300", "光纤宽带 300M", "FTTH", "cn-miit", _rates(300),
                   _rates(30), {"rate_factor": 0.9, "required_share": 0.9}),
              weight=3, delivery=1.07, latency_ms=8, countries=("CN",)),
    PlanModel(Plan("cn-ftth-1000", "光纤宽带 1000M", "FTTH", "cn-miit", _rates(1000),
                   _rates(100), {"rate_factor": 0.9, "required_share": 0.9}),
              weight=2, delivery=1.0, latency_ms=7, countries=("CN",)),
    PlanModel(Plan("de-cable-1000", "Kabel 1000", "cable", "de-bnetza",
                   _rates(1000, 850, 600, 1000), _rates(50, 35, 15), {"gap_h": 3}),
              weight=2, delivery=0.93, latency_ms=18, countries=("DE",)),
    PlanModel(Plan("de-vdsl-100", "VDSL 100", "FTTC", "de-bnetza",
                   _rates(100, 90, 60, 100), _rates(40, 33, 20), {"gap_h": 3}),
              weight=2, delivery=1.04, latency_ms=16, countries=("DE",)),
    PlanModel(Plan("at-vdsl-100", "VDSL 100", "DSL", "eu-berec", _rates(100, 80, 50, 100),
                   _rates(40, 32, 20, 40),
                   {"period": "peak", "peak_hours": [19, 23], "peak_share": 0.9,
                    "off_peak_share": 1.0}),
              weight=1, delivery=1.0, latency_ms=20, countries=("AT",)),
    PlanModel(Plan("uk-fttc-80", "Fibre 80", "FTTC", "uk-ofcom",
                   _rates(minimum=40, advertised=80), _rates(advertised=20), {"cure_days": 30}),
              weight=1, delivery=0.85, latency_ms=15, countries=("GB",)),
    PlanModel(Plan("us-cable-300", "Internet 300", "cable", "us-fcc", _rates(advertised=300),
                   _rates(advertised=20), {"latency_limit_ms": 100, "min_measurements": 42}),
              weight=2, delivery=1.05, latency_ms=20, countries=("US",)),
    PlanModel(Plan("us-fwa-100", "Home Internet 100", "5G-FWA", "us-fcc",
                   _rates(advertised=100), _rates(advertised=10),
                   {"latency_limit_ms": 100, "min_measurements": 42}),
              weight=1, delivery=0.82, latency_ms=38, countries=("US",)),
)

REGIONS: tuple[Region, ...] = (
    Region("CN-GD", "Asia/Shanghai", 0.03),
    Region("CN-BJ", "Asia/Shanghai", 0.10),
    Region("DE-BE", "Europe/Berlin", 0.18),  # congested cable segments
    Region("DE-BY", "Europe/Berlin", 0.04),
    Region("AT-9", "Europe/Vienna", 0.08),
    Region("GB-LND", "Europe/London", 0.10),
    Region("GB-SCT", "Europe/London", 0.05),
    Region("US-NY", "America/New_York", 0.08),
    Region("US-CA", "America/Los_Angeles", 0.15),
)


def regions_for(model: PlanModel) -> tuple[Region, ...]:
    return tuple(r for r in REGIONS if r.code.split("-")[0] in model.countries)
