"""Window verdicts per period: a subscriber judged on only its peak-hour tests, and on only its
off-peak ones.

A compliance team asks not only "is this line compliant?" but "is it compliant at peak?". The
answer uses nothing new: each row of the fleet's measurements gets the period its ``broadband``
point is tagged with (:func:`probe.compliance.labels.in_peak` on the local time of day, the
profile's ``peak_hours`` or 19:00–23:00), and the unchanged :func:`~probe.compliance.fleet
.evaluate_fleet` judges the peak rows and the off-peak rows as two separate windows. A profile
that needs a number of tests or campaign days may well find a period inconclusive: that is the
answer, not an error. A rule with clauses of its own per period (eu-berec with ``period =
"peak"``: a share of peak tests and a share of off-peak tests) judges in each window only that
period's clause and the clauses for all tests: the other period's clause has no tests there,
and judged anyway it could only leave the verdict undecided, never let it pass. Rows of
subscribers without a contract go into both windows (they are counted, never evaluated, either
way). No I/O and no clock.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
import pandas as pd

from probe.compliance.contract import Contract
from probe.compliance.fleet import evaluate_fleet
from probe.compliance.frame import subscriber_codes
from probe.compliance.labels import PERIODS, in_peak, peak_bounds_us, peak_hours
from probe.compliance.verdict import Evaluation
from probe.errors import RecordFormatError

US_PER_DAY = 86_400_000_000
Bools = npt.NDArray[np.bool_]


def peak_rows(frame: pd.DataFrame, contracts: Mapping[str, Contract], *,
              profile: str | None = None) -> tuple[Bools, Bools]:
    """(peak, known): per row, whether its test started in its subscriber's peak hours, and
    whether the row's subscriber has a contract at all (unlabelled rows belong to a sole
    contract, as in :mod:`probe.compliance.intake`)."""
    ids = list(contracts)
    code = subscriber_codes(frame, ids) if "subscriber_id" in frame else None
    if len(ids) == 1:
        code = np.zeros(len(frame), dtype=np.int64)
    elif code is None:
        code = np.full(len(frame), -1, dtype=np.int64)
    started = frame["started_at"]
    if not isinstance(started.dtype, pd.DatetimeTZDtype):
        raise RecordFormatError("started_at must hold timezone-aware timestamps")
    # Contracts share few (zone, peak hours) pairs; the profile is resolved once per plan.
    bounds_of_plan: dict[int, tuple[int, int]] = {}
    groups: dict[tuple[str, tuple[int, int]], int] = {}
    group_of_contract = np.empty(len(ids) + 1, dtype=np.int64)
    group_of_contract[-1] = -1  # code -1: no contract
    for k, sid in enumerate(ids):
        con = contracts[sid]
        bounds = bounds_of_plan.get(id(con.plan))
        if bounds is None:
            bounds = bounds_of_plan[id(con.plan)] = peak_bounds_us(peak_hours(con, profile))
        group_of_contract[k] = groups.setdefault((con.time_zone, bounds), len(groups))
    group_of_row = group_of_contract[code]
    peak = np.zeros(len(frame), dtype=bool)
    utc = pd.DatetimeIndex(started).tz_convert("UTC")
    for (zone, bounds), g in groups.items():
        rows = np.flatnonzero(group_of_row == g)
        if rows.size == 0:
            continue
        wall = utc[rows].tz_convert(zone).tz_localize(None).as_unit("us").asi8
        peak[rows] = in_peak(np.asarray(wall % US_PER_DAY, dtype=np.int64), bounds)
    return peak, code >= 0


def evaluate_periods(frame: pd.DataFrame, contracts: Mapping[str, Contract], *,
                     profile: str | None = None) -> dict[str, list[Evaluation]]:
    """``{"peak": [...], "off_peak": [...]}``: one :class:`Evaluation` per contract and period,
    each in the order of ``contracts``, from only that period's rows."""
    peak, known = peak_rows(frame, contracts, profile=profile)
    unknown = ~known
    masks = {"peak": peak | unknown, "off_peak": ~peak | unknown}
    return {p: evaluate_fleet(frame[masks[p]], contracts, profile=profile, period=p)
            for p in PERIODS}
