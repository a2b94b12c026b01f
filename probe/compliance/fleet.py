"""Window verdicts for one subscriber or a whole fleet, in one vectorised call.

:func:`evaluate_fleet` takes the measurements of any number of subscribers as one DataFrame
(see :data:`probe.compliance.frame.COLUMNS`) and their contracts, groups the rows by plan and
hands each plan's :class:`~probe.compliance.frame.Window` to the plan's rule profile (or the
``profile`` given). No I/O and no clock: "now" is the last measurement in the data.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from probe.compliance.check import resolve_profile
from probe.compliance.contract import Contract
from probe.compliance.frame import windows_by_plan
from probe.compliance.profiles import PROFILES
from probe.compliance.verdict import Evaluation


def evaluate_fleet(
    frame: pd.DataFrame, contracts: Mapping[str, Contract], *, profile: str | None = None
) -> list[Evaluation]:
    """One :class:`Evaluation` per contract, in the order of ``contracts``."""
    out: dict[str, Evaluation] = {}
    for _plan, window in windows_by_plan(frame, contracts):
        name, params = resolve_profile(window.contracts[0], profile)
        for evaluation in PROFILES[name].evaluate(window, window.contracts[0].plan, params):
            out[evaluation.subscriber_id] = evaluation
    return [out[s] for s in contracts]
