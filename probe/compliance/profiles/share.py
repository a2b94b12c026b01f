"""The "share of tests at or above a bar" rule that cn-miit, us-fcc and custom are built from.

A test reaches the bar when its rate is >= factor × the plan's chosen rate (computed exactly,
rounded once). A direction passes when at least ``share`` of its counted tests reach the bar;
with fewer than ``min_measurements`` counted tests it is undecided (inconclusive). Optional:
only tests whose local start time is in ``hours`` count, and a latency clause (a share of tests
at or below a limit in ms).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

from probe.compliance.contract import DIRECTIONS, Direction, Plan, RateName
from probe.compliance.params import Params, exact_product_mbps
from probe.compliance.profile import Threshold, hour_text, rate_label
from probe.compliance.verdict import Confidence, Criterion, Evaluation, mbps

if TYPE_CHECKING:
    from probe.compliance.frame import Window


@dataclass(frozen=True, slots=True)
class ShareRule:
    """The settings of one share rule, as a profile resolved them from its parameters."""

    id: str
    rate: RateName
    factor: Fraction
    share: Fraction
    min_measurements: int
    directions: tuple[Direction, ...] = DIRECTIONS
    hours: tuple[Fraction, Fraction] | None = None
    latency_limit_ms: Fraction | None = None
    latency_share: Fraction = Fraction(95, 100)
    latency_id: str = "latency"


def thresholds(rule: ShareRule, plan: Plan) -> tuple[Threshold, ...]:
    out = []
    for direction in rule.directions:
        rates = plan.rates(direction)
        base = None if rates is None else rates.rate(rule.rate)
        if base is None:
            continue
        limit = exact_product_mbps(rule.factor, base)
        out.append(Threshold(rule.id, direction, "rate", limit,
                             rate_label(rule.rate, base, rule.factor)))
    if rule.latency_limit_ms is not None:
        limit_ms = float(rule.latency_limit_ms)
        out.append(Threshold(rule.latency_id, "latency", "latency", limit_ms,
                             f"latency <= {limit_ms:g} ms"))
    return tuple(out)


def evaluate(rule: ShareRule, window: Window, plan: Plan, profile: str) -> list[Evaluation]:
    # Imported here so that the per-test check never loads numpy.
    import numpy as np  # noqa: PLC0415

    from probe.compliance import counting  # noqa: PLC0415

    size = window.size
    counted = np.ones(window.sub.size, dtype=bool)
    where = "tests"
    if rule.hours is not None:
        start_ms, end_ms = (int(h * 3_600_000) for h in rule.hours)
        counted = (window.sod_ms >= start_ms) & (window.sod_ms < end_ms)
        where = f"tests in {hour_text(rule.hours)}"
    columns: list[list[Criterion]] = []
    conf: list[list[Confidence]] = []
    for bar in thresholds(rule, plan):
        if bar.kind == "rate":
            values = window.rates(bar.direction)
            rows = counted & ~np.isnan(values)
            met = rows & (values >= bar.limit)
            tests, reached = counting.per_subscriber(window, rows), counting.per_subscriber(
                window, met)
            columns.append(counting.share_criteria(
                id=bar.id, direction=bar.direction, label=bar.label, tests=tests,
                reached=reached, share=rule.share, min_tests=rule.min_measurements,
                where=where))
            conf.append(counting.confidences(bar.direction, tests, tests - reached,
                                             f"below {mbps(bar.limit)}"))
        else:
            values = window.latency_ms
            rows = counted & ~np.isnan(values)
            met = rows & (values <= bar.limit)
            tests, reached = counting.per_subscriber(window, rows), counting.per_subscriber(
                window, met)
            columns.append(counting.share_criteria(
                id=bar.id, direction="latency", label=bar.label, tests=tests, reached=reached,
                share=rule.latency_share, min_tests=rule.min_measurements, where=where,
                verb="met"))
    return counting.assemble(window, profile, counting.transpose(columns, size),
                             counting.transpose(conf, size))


def profile_hooks(
    name: str, rule_of: Callable[[Params], ShareRule]
) -> tuple[Callable[[Plan, Params], tuple[Threshold, ...]],
           Callable[[Window, Plan, Params], list[Evaluation]]]:
    """The ``thresholds`` and ``evaluate`` of a ProfileSpec that is one share rule, resolved
    from the plan's parameters by ``rule_of``."""

    def profile_thresholds(plan: Plan, params: Params) -> tuple[Threshold, ...]:
        return thresholds(rule_of(params), plan)

    def profile_evaluate(window: Window, plan: Plan, params: Params) -> list[Evaluation]:
        return evaluate(rule_of(params), window, plan, name)

    return profile_thresholds, profile_evaluate
