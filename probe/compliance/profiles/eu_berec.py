"""eu-berec: the normally available rate with its availability share, plus the minimum rate.

Source: BEREC Net Neutrality Regulatory Assessment Methodology (draft, P188–P190; ref [13]) on
Regulation (EU) 2015/2120 Art. 4(1)(d): the normally available speed has "two dimensions: the
numerical value … and the availability (as a percentage) … during a specified period", for
example "at least during off-peak hours and 90 % of time over peak hours, or 95 % over the
whole day". BEREC does not say how often the maximum must be reached (P188), so it is not judged.

Rule (availability approximated by the share of tests, so tests should be spread evenly):
``period = "day"``: the normally available rate is reached in >= ``day_share`` (95 %) of all
tests; ``period = "peak"``: in >= ``peak_share`` (90 %) of tests whose local start is in
``peak_hours`` and >= ``off_peak_share`` (100 %) of the others. Minimum: the minimum rate is
reached in >= ``minimum_share`` (100 %: any undercut is a shortfall) of tests. The peak hours
and ``min_measurements`` are this project's defaults: set them from the national regulator's
rules or the contract.
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING

from probe.compliance.contract import Plan
from probe.compliance.params import Param, Params
from probe.compliance.profile import ProfileSpec, Threshold, hour_text, plan_rate_thresholds
from probe.compliance.verdict import Confidence, Criterion, mbps

if TYPE_CHECKING:
    from probe.compliance.frame import Window
    from probe.compliance.verdict import Evaluation

NAME = "eu-berec"
PARAMETERS = {
    p.name: p for p in (
        Param("period", "choice", "day", "availability over the whole day or peak/off-peak",
              ("day", "peak")),
        Param("day_share", "share", Fraction(95, 100), "period=day: share of all tests"),
        Param("peak_hours", "window", (Fraction(19), Fraction(23)),
              "period=peak: local peak hours [start, end) (set per NRA/contract)"),
        Param("peak_share", "share", Fraction(9, 10), "period=peak: share of peak tests"),
        Param("off_peak_share", "share", Fraction(1), "period=peak: share of off-peak tests"),
        Param("minimum_share", "share", Fraction(1), "share of tests at or above the minimum"),
        Param("min_measurements", "count", 20, "tests per clause below which it is undecided"),
    )
}


def _thresholds(plan: Plan, params: Params) -> tuple[Threshold, ...]:
    return plan_rate_thresholds(plan, (("normal", "normally_available"), ("minimum", "minimum")))


def _evaluate(window: Window, plan: Plan, params: Params) -> list[Evaluation]:
    # Imported here so that the per-test check never loads numpy.
    import numpy as np  # noqa: PLC0415

    from probe.compliance import counting  # noqa: PLC0415

    least = params.count("min_measurements")
    peak = params.window("peak_hours")
    assert peak is not None
    in_peak = ((window.sod_ms >= int(peak[0] * 3_600_000))
               & (window.sod_ms < int(peak[1] * 3_600_000)))
    columns: list[list[Criterion]] = []
    conf: list[list[Confidence]] = []
    for bar in _thresholds(plan, params):
        values = window.rates(bar.direction)
        measured = ~np.isnan(values)
        met = measured & (values >= bar.limit)
        if bar.id == "minimum":
            clauses = [("minimum", measured, params.share("minimum_share"), "tests")]
        elif params.choice("period") == "day":
            clauses = [("normal-day", measured, params.share("day_share"), "tests")]
        else:
            # A window of one period's tests (probe.compliance.periods) is judged by that
            # period's clause only: the other's has no tests there and could never pass.
            clauses = [clause for clause, period in (
                (("normal-peak", measured & in_peak, params.share("peak_share"),
                  f"tests in {hour_text(peak)}"), "peak"),
                (("normal-off-peak", measured & ~in_peak, params.share("off_peak_share"),
                  f"tests outside {hour_text(peak)}"), "off_peak"),
            ) if window.period in (None, period)]
        for clause_id, rows, share, where in clauses:
            tests = counting.per_subscriber(window, rows)
            reached = counting.per_subscriber(window, rows & met)
            columns.append(counting.share_criteria(
                id=clause_id, direction=bar.direction, label=bar.label, tests=tests,
                reached=reached, share=share, min_tests=least, where=where))
        if bar.id == "normal":
            tests = counting.per_subscriber(window, measured)
            failing = tests - counting.per_subscriber(window, met)
            conf.append(counting.confidences(bar.direction, tests, failing,
                                             f"below {mbps(bar.limit)}"))
    size = window.size
    return counting.assemble(window, NAME, counting.transpose(columns, size),
                             counting.transpose(conf, size))


PROFILE = ProfileSpec(
    name=NAME,
    title="EU BEREC normally available speed with availability",
    source="Regulation (EU) 2015/2120 Art. 4(1)(d); BEREC NN assessment methodology P188–P190 [13]",
    parameters=PARAMETERS,
    required_rates=lambda _p: ("normally_available", "minimum"),
    directions=("download", "upload"),
    thresholds=_thresholds,
    evaluate=_evaluate,
    primary="normal",
)
