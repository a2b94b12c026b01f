"""de-bnetza: §57(4) TKG shortfall, per BNetzA Allgemeinverfügung 99/2021 (in force 2021-12-13).

Sources: anchors-and-regulations §3 "Germany" and measurement-methodology §5 (breitbandmessung.de
FAQ, heise, computerbase, test.de; refs [11]).

**Campaign validity** (all in the subscriber's local calendar; spacing in elapsed time):
30 measurements, 10 on each of 3 calendar days; at least 1 calendar day without measurement
between measurement days; the 3 days within 14 calendar days (last day − first day <= 13); at
least 5 min between the starts of consecutive measurements of a day; at least ``gap_h`` hours
between the 5th and the 6th measurement of a day. **[unverified]** The reference could not
confirm the 3 h figure; it is the default of the ``gap_h`` parameter, set per plan.

Which measurements form the campaign: a measurement counts only when unflagged and every judged
direction has a rate. Per local day, the first measurement is taken, then each next one that
keeps the spacing (greedy, earliest — it finds 10 whenever any 10 exist). Days with 10 are
complete; the campaign is the first (``campaign = "first"``) or latest chain of 3 complete days
that keeps the day rules. Later or surplus measurements do not count, so a verdict never
depends on choosing favourable measurements.

**Shortfall** in a direction if any of (a) 90 % of the maximum is not reached even once on at
least 2 of the 3 days; (b) the normally available rate is reached in fewer than 90 % of the 30
measurements; (c) the minimum is undercut (rate < minimum) on at least 2 of the 3 days. Upload
is judged like download when the plan states upload rates (the BNetzA app checks both; the
exact upload wording is unconfirmed).
"""

from __future__ import annotations

from datetime import date, timedelta
from fractions import Fraction
from functools import lru_cache
from typing import TYPE_CHECKING

from probe.compliance.contract import DIRECTIONS, Direction, Plan
from probe.compliance.params import Param, Params, exact_product_mbps
from probe.compliance.profile import ProfileSpec, Threshold, plan_rate_thresholds

if TYPE_CHECKING:
    from probe.compliance.frame import Window
    from probe.compliance.verdict import Evaluation

NAME = "de-bnetza"
PARAMETERS = {
    p.name: p for p in (
        Param("measurements_per_day", "count", 10, "measurements on each measurement day"),
        Param("measurement_days", "count", 3, "calendar days with measurements"),
        Param("max_span_days", "count", 14, "all measurement days within this many calendar days"),
        Param("min_free_days", "count", 1, "calendar days without measurement between days"),
        Param("min_spacing_min", "minutes", Fraction(5), "minutes between measurement starts"),
        Param("gap_after", "count", 5, "the long gap follows this measurement of a day"),
        Param("gap_h", "hours", Fraction(3), "hours between the 5th and 6th [unverified: 3]"),
        Param("max_factor", "share", Fraction(9, 10), "(a) share of the maximum to reach"),
        Param("normal_share", "share", Fraction(9, 10),
              "(b) share of measurements reaching the normally available rate"),
        Param("days_for_shortfall", "count", 2, "(a)/(c) days that establish a shortfall"),
        Param("campaign", "choice", "first", "which complete campaign counts",
              ("first", "latest")),
    )
}


def _directions(plan: Plan) -> tuple[Direction, ...]:
    return tuple(d for d in DIRECTIONS if plan.rates(d) is not None)


def _limits(plan: Plan, direction: Direction, params: Params) -> tuple[float, float, float]:
    maximum = plan.rate(direction, "maximum")
    return (exact_product_mbps(params.share("max_factor"), maximum),
            plan.rate(direction, "normally_available"), plan.rate(direction, "minimum"))


def _thresholds(plan: Plan, params: Params) -> tuple[Threshold, ...]:
    return plan_rate_thresholds(plan, (("b-normal", "normally_available"),
                                       ("c-minimum", "minimum")))


@lru_cache(maxsize=4096)  # a fleet shares few distinct days; isoformat was 5 % of its time
def day_text(day: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=day)).isoformat()


def _evaluate(window: Window, plan: Plan, params: Params) -> list[Evaluation]:
    from probe.compliance.profiles import de_bnetza_campaign  # noqa: PLC0415 (numpy)

    return de_bnetza_campaign.evaluate(window, plan, params, _directions(plan), _limits)


PROFILE = ProfileSpec(
    name=NAME,
    title="Germany §57(4) TKG, BNetzA Allgemeinverfügung 99/2021",
    source="§57(4) TKG; BNetzA Allgemeinverfügung 99/2021; breitbandmessung.de [11]",
    parameters=PARAMETERS,
    required_rates=lambda _p: ("maximum", "normally_available", "minimum"),
    directions=("download", "upload"),
    thresholds=_thresholds,
    evaluate=_evaluate,
    primary="b-normal",
)
