"""custom: user-set thresholds, for an ISP's own SLA or a regulator not covered here.

No statute: the plan's ``[plan.rules]`` says which rate is the bar (``rate``), a factor on it,
the share of tests that must reach it, optionally the local hours in which tests count and a
latency clause. Defaults: at least 90 % of tests reach 100 % of the minimum rate, counted at
any hour, one valid test being enough to decide.
"""

from __future__ import annotations

from fractions import Fraction

from probe.compliance.contract import RATE_NAMES
from probe.compliance.params import Param, Params
from probe.compliance.profile import ProfileSpec
from probe.compliance.profiles import share

NAME = "custom"
PARAMETERS = {
    p.name: p for p in (
        Param("rate", "choice", "minimum", "which plan rate is the bar", RATE_NAMES),
        Param("factor", "factor", Fraction(1), "a test passes at >= factor × rate"),
        Param("required_share", "share", Fraction(9, 10), "share of tests that must pass"),
        Param("hours", "window", None, "local hours [start, end) in which tests count"),
        Param("min_measurements", "count", 1, "valid tests per direction needed to decide"),
        Param("latency_limit_ms", "ms", None, "latency clause: limit in ms (unset: none)"),
        Param("latency_share", "share", Fraction(95, 100),
              "share of tests that must be at or below the latency limit"),
    )
}


def _rule(params: Params) -> share.ShareRule:
    return share.ShareRule(
        id="sla", rate=params.rate_name("rate"),
        factor=params.share("factor"), share=params.share("required_share"),
        min_measurements=params.count("min_measurements"), hours=params.window("hours"),
        latency_limit_ms=params.optional_ms("latency_limit_ms"),
        latency_share=params.share("latency_share"), latency_id="sla-latency",
    )


_thresholds, _evaluate = share.profile_hooks(NAME, _rule)


PROFILE = ProfileSpec(
    name=NAME,
    title="Custom SLA thresholds",
    source="none: the plan's own [plan.rules]",
    parameters=PARAMETERS,
    required_rates=lambda p: (p.rate_name("rate"),),
    directions=("download", "upload"),
    thresholds=_thresholds,
    evaluate=_evaluate,
    counting_hours=lambda p: p.window("hours"),
    primary="sla",
)
