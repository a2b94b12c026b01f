"""Window verdicts for one subscriber or a whole fleet, in one vectorised call.

:func:`evaluate_fleet` takes the measurements of any number of subscribers as one DataFrame
(see :data:`probe.compliance.frame.COLUMNS`) and their contracts, settles duplicates and
unlabelled rows (:mod:`.intake`: one measurement, one vote), groups the rows by plan and hands
each plan's :class:`~probe.compliance.frame.Window` to the plan's rule profile (or the
``profile`` given). Every row of a subscriber that did not count is counted by reason in
:attr:`Evaluation.not_counted`. No I/O and no clock: "now" is the last measurement in the data.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np
import pandas as pd

from probe.compliance.check import resolve_profile
from probe.compliance.contract import Contract
from probe.compliance.frame import Ints, Window, windows_by_plan
from probe.compliance.intake import REASONS, Intake, take_in
from probe.compliance.params import Params
from probe.compliance.profiles import PROFILES
from probe.compliance.verdict import Evaluation


def evaluate_fleet(
    frame: pd.DataFrame, contracts: Mapping[str, Contract], *, profile: str | None = None,
    unlabelled_to_sole: bool = True,
) -> list[Evaluation]:
    """One :class:`Evaluation` per contract, in the order of ``contracts``."""
    intake = take_in(frame, contracts, unlabelled_to_sole=unlabelled_to_sole)
    return evaluate_intake(intake, contracts, profile=profile)


def evaluate_intake(
    intake: Intake, contracts: Mapping[str, Contract], *, profile: str | None = None
) -> list[Evaluation]:
    """Like :func:`evaluate_fleet` for rows already taken in (the CLI shows the intake too)."""
    out: dict[str, Evaluation] = {}
    for _plan, window in windows_by_plan(intake.frame, contracts):
        name, params = resolve_profile(window.contracts[0], profile)
        outside = _outside_hours(window, name, params)
        for i, evaluation in enumerate(PROFILES[name].evaluate(window, window.contracts[0].plan,
                                                              params)):
            counts = {r: int(c[i]) for r, c in window.not_counted.items()}
            counts["duplicate"] = intake.duplicates_of.get(evaluation.subscriber_id, 0)
            counts["outside_hours"] = int(outside[i])
            out[evaluation.subscriber_id] = dataclasses.replace(
                evaluation, not_counted=tuple((r, counts.get(r, 0)) for r in REASONS))
    return [out[s] for s in contracts]


def _outside_hours(window: Window, name: str, params: Params) -> Ints:
    """Per subscriber: valid rows outside the local hours in which the profile counts tests."""
    hours = PROFILES[name].counting_hours(params)
    if hours is None:
        return np.zeros(window.size, dtype=np.int64)
    start_ms, end_ms = (int(h * 3_600_000) for h in hours)
    outside = (window.sod_ms < start_ms) | (window.sod_ms >= end_ms)
    return np.bincount(window.sub[outside], minlength=window.size).astype(np.int64)
