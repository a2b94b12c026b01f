"""What a rule profile is: its parameters, its per-test thresholds and its window evaluation.

Each profile module (``probe/compliance/profiles/*.py``) builds one :class:`ProfileSpec`. The
per-test part (:attr:`ProfileSpec.thresholds`) is plain Python so the router agent can check a
single measurement without pandas or numpy; the window part (:attr:`ProfileSpec.evaluate`)
imports numpy inside the call and works on a :class:`~probe.compliance.frame.Window` holding a
whole fleet on one plan.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Literal

from probe.compliance.contract import DIRECTIONS, Direction, Plan, RateName
from probe.compliance.params import Param, Params, exact_product_mbps
from probe.compliance.verdict import Evaluation, Scope, mbps, pct

if TYPE_CHECKING:
    from probe.compliance.frame import Window

RATE_LABELS: dict[RateName, str] = {
    "maximum": "maximum",
    "normally_available": "normally available",
    "minimum": "minimum",
    "advertised": "advertised",
}


@dataclass(frozen=True, slots=True)
class Threshold:
    """A per-test bar: a rate must be >= ``limit`` (Mbit/s), a latency <= ``limit`` (ms)."""

    id: str
    direction: Scope
    kind: Literal["rate", "latency"]
    limit: float
    label: str  # e.g. "normally available 200 Mbit/s" or "90 % of maximum 1000 Mbit/s"

    def met(self, value: float) -> bool:
        return value >= self.limit if self.kind == "rate" else value <= self.limit


@dataclass(frozen=True, slots=True)
class ProfileSpec:
    """A statutory or custom rule set, with the source it implements."""

    name: str
    title: str
    source: str
    parameters: Mapping[str, Param]
    # Rates each covered direction must state, given the resolved parameters.
    required_rates: Callable[[Params], tuple[RateName, ...]]
    directions: tuple[Direction, ...]
    thresholds: Callable[[Plan, Params], tuple[Threshold, ...]]
    evaluate: Callable[[Window, Plan, Params], list[Evaluation]]
    # Local hours [start, end) outside which a test does not count (us-fcc testing hours).
    counting_hours: Callable[[Params], tuple[Fraction, Fraction] | None] = lambda _p: None
    # The threshold id whose failures the Clopper–Pearson interval counts, per direction.
    primary: str = ""


def rate_label(name: RateName, base_mbps: float, factor: Fraction = Fraction(1)) -> str:
    """"normally available 200 Mbit/s" or "80 % of advertised 10 Mbit/s (8 Mbit/s)"."""
    if factor == 1:
        return f"{RATE_LABELS[name]} {mbps(base_mbps)}"
    limit = exact_product_mbps(factor, base_mbps)
    return f"{pct(factor)} of {RATE_LABELS[name]} {mbps(base_mbps)} ({mbps(limit)})"


def plan_rate_thresholds(
    plan: Plan, bars: Sequence[tuple[str, RateName]]
) -> tuple[Threshold, ...]:
    """Per direction the plan states rates for, one bar per ``(id, rate)``: the plan's own
    figure for that rate is the limit (no factor)."""
    out = []
    for direction in DIRECTIONS:
        if plan.rates(direction) is None:
            continue
        for bar_id, name in bars:
            limit = plan.rate(direction, name)
            out.append(Threshold(bar_id, direction, "rate", limit, rate_label(name, limit)))
    return tuple(out)


def hour_text(window: tuple[Fraction, Fraction]) -> str:
    def hhmm(h: Fraction) -> str:
        minutes = int(h * 60)
        return f"{minutes // 60:02d}:{minutes % 60:02d}"

    return f"{hhmm(window[0])}–{hhmm(window[1])} local"
