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
from probe.compliance.intake import Intake, take_in
from probe.compliance.params import Params
from probe.compliance.profiles import PROFILES
from probe.compliance.verdict import Evaluation


def evaluate_fleet(
    frame: pd.DataFrame, contracts: Mapping[str, Contract], *, profile: str | None = None,
    unlabelled_to_sole: bool = True, period: str | None = None,
) -> list[Evaluation]:
    """One :class:`Evaluation` per contract, in the order of ``contracts``.

    ``period`` ("peak" / "off_peak"): ``frame`` holds only that period's tests
    (:mod:`probe.compliance.periods`), so a rule judges only its clauses for that period."""
    intake = take_in(frame, contracts, unlabelled_to_sole=unlabelled_to_sole)
    return evaluate_intake(intake, contracts, profile=profile, period=period)


def evaluate_intake(
    intake: Intake, contracts: Mapping[str, Contract], *, profile: str | None = None,
    period: str | None = None,
) -> list[Evaluation]:
    """Like :func:`evaluate_fleet` for rows already taken in (the CLI shows the intake too)."""
    out: dict[str, Evaluation] = {}
    dups = intake.duplicates_of
    for _plan, plan_window in windows_by_plan(intake.frame, contracts):
        name, params = resolve_profile(plan_window.contracts[0], profile)
        duplicate = np.array([dups.get(c.subscriber_id, 0) for c in plan_window.contracts]
                             if dups else np.zeros(plan_window.size), dtype=np.int64)
        # The profile's evaluations carry every reason's count (counting.assemble).
        window = dataclasses.replace(plan_window, period=period, not_counted={
            **plan_window.not_counted, "duplicate": duplicate,
            "outside_hours": _outside_hours(plan_window, name, params)})
        for evaluation in PROFILES[name].evaluate(window, window.contracts[0].plan, params):
            out[evaluation.subscriber_id] = evaluation
    return [out[s] for s in contracts]


def _outside_hours(window: Window, name: str, params: Params) -> Ints:
    """Per subscriber: valid rows outside the local hours in which the profile counts tests."""
    hours = PROFILES[name].counting_hours(params)
    if hours is None:
        return np.zeros(window.size, dtype=np.int64)
    start_ms, end_ms = (int(h * 3_600_000) for h in hours)
    outside = (window.sod_ms < start_ms) | (window.sod_ms >= end_ms)
    return np.bincount(window.sub[outside], minlength=window.size).astype(np.int64)
