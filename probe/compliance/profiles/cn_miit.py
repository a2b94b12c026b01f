"""cn-miit: China's 达标率 — the share of tests whose access rate reaches k × the theoretical rate.

Source: YD/T 2400 *宽带速率测试方法 固定宽带接入* (fixed broadband access rate test method) and
the MIIT notices on broadband speed (anchors-and-regulations §3 "China", refs [16]). YD/T 2400
defines the access rate on the BRAS → user-terminal segment, so on-net servers near the BRAS
are the right target and count here like any other test.

Rule: a test is 达标 (compliant) in a direction when the measured rate >= ``rate_factor`` × the
plan's theoretical rate (``maximum_mbps``, 理论速率/签约速率); 达标率 = compliant tests / valid
tests; the window passes when 达标率 >= ``required_share``. **[unverified]** The reference could
not confirm the notice's exact figures; both defaults (k = 0.9, 达标率 90 %) are this project's
reading and are set per plan in ``[plan.rules]``. Upload is judged when the plan states an
upload theoretical rate.
"""

from __future__ import annotations

from fractions import Fraction

from probe.compliance.params import Param, Params
from probe.compliance.profile import ProfileSpec
from probe.compliance.profiles import share

NAME = "cn-miit"
PARAMETERS = {
    p.name: p for p in (
        Param("rate_factor", "factor", Fraction(9, 10),
              "k: a test is 达标 when rate >= k × theoretical rate [unverified default]"),
        Param("required_share", "share", Fraction(9, 10),
              "达标率 the window needs [unverified default]"),
        Param("min_measurements", "count", 10,
              "valid tests per direction below which the verdict is inconclusive"),
    )
}


def _rule(params: Params) -> share.ShareRule:
    return share.ShareRule(
        id="dabiao-rate", rate="maximum", factor=params.share("rate_factor"),
        share=params.share("required_share"), min_measurements=params.count("min_measurements"),
    )


_thresholds, _evaluate = share.profile_hooks(NAME, _rule)


PROFILE = ProfileSpec(
    name=NAME,
    title="China MIIT 达标率 (YD/T 2400 access rate)",
    source="YD/T 2400 宽带速率测试方法 固定宽带接入; MIIT broadband speed notices [16]",
    parameters=PARAMETERS,
    required_rates=lambda _p: ("maximum",),
    directions=("download", "upload"),
    thresholds=_thresholds,
    evaluate=_evaluate,
    primary="dabiao-rate",
)
