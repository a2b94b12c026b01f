"""uk-ofcom: minimum guaranteed download speed, 30-day cure period, then the right to exit.

Source: Ofcom Voluntary Code of Practice: Broadband Speeds (2018/2022), "updating and
clarifying customers' right to exit" (ref [14]): the provider states a minimum guaranteed
download speed at the point of sale; if the speed falls below it and the provider does not fix
it within 30 days, the customer may leave without penalty.

Rule, download only (the guarantee is a download figure): a valid test below the guarantee
(rate < ``minimum_mbps``) starts a cure period of ``cure_days`` × 24 h of elapsed time. The
first test at or after its end decides: still below → **shortfall** (right to exit); at or
above → fixed, and the next test below starts a new cure period. A cure period without a test
after its end is **inconclusive** (it is still running). No test below → pass. Peak-time
estimates in the code are information, not a guarantee, and are not judged.
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING

from probe.compliance.contract import Plan
from probe.compliance.params import Param, Params
from probe.compliance.profile import ProfileSpec, Threshold, rate_label

if TYPE_CHECKING:
    from probe.compliance.frame import Window
    from probe.compliance.verdict import Evaluation

NAME = "uk-ofcom"
PARAMETERS = {
    p.name: p for p in (
        Param("cure_days", "days", Fraction(30), "days the provider has to fix a shortfall"),
        Param("min_measurements", "count", 1, "valid download tests needed to decide"),
    )
}


def _thresholds(plan: Plan, params: Params) -> tuple[Threshold, ...]:
    minimum = plan.rate("download", "minimum")
    return (Threshold("minimum-guaranteed", "download", "rate", minimum,
                      f"minimum guaranteed {rate_label('minimum', minimum).split(' ', 1)[1]}"),)


def _evaluate(window: Window, plan: Plan, params: Params) -> list[Evaluation]:
    from probe.compliance.profiles import uk_ofcom_cure  # noqa: PLC0415 (numpy)

    return uk_ofcom_cure.evaluate(window, _thresholds(plan, params)[0], params)


PROFILE = ProfileSpec(
    name=NAME,
    title="UK Ofcom broadband speeds code: minimum guaranteed speed and right to exit",
    source="Ofcom Voluntary Code of Practice: Broadband Speeds; right to exit [14]",
    parameters=PARAMETERS,
    required_rates=lambda _p: ("minimum",),
    directions=("download",),
    thresholds=_thresholds,
    evaluate=_evaluate,
    primary="minimum-guaranteed",
)
