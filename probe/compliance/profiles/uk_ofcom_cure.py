"""The uk-ofcom cure-period walk, vectorised: one ``searchsorted`` step per cure period.

Rules and source: :mod:`probe.compliance.profiles.uk_ofcom`. Every subscriber advances through
its cure periods at the same time; the loop runs once per cure period of the subscriber with
the most (each period is at least ``cure_days`` long, so a year has at most 12).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np

from probe.compliance import counting
from probe.compliance.counting import Bools
from probe.compliance.frame import Ints
from probe.compliance.params import Params
from probe.compliance.profiles.uk_ofcom import NAME
from probe.compliance.verdict import Criterion, mbps

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from probe.compliance.frame import Window
    from probe.compliance.profile import Threshold
    from probe.compliance.verdict import Evaluation

_T_BITS = 40
PASS, EXIT, RUNNING = 1, 2, 3


def _local(t_ms: int, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(t_ms / 1000, tz=UTC).astimezone(zone).strftime(
        "%Y-%m-%d %H:%M %Z")


@dataclass(frozen=True, slots=True)
class Walk:
    """Per subscriber: outcome, tests that opened/decided the last cure period, fixed count."""

    state: Ints
    start_row: Ints
    decide_row: Ints
    fixed: Ints


def walk(sub: Ints, t: Ints, below: Bools, size: int, cure_ms: int) -> Walk:
    """Advance every subscriber through its cure periods (rows sorted by subscriber, time)."""
    n = sub.size
    # next_below[i]: the first j >= i with below[j] (n if none); checked against the subscriber.
    idx = np.where(below, np.arange(n), n)
    next_below = np.minimum.accumulate(idx[::-1])[::-1] if n else idx
    ends = np.searchsorted(sub, np.arange(size), side="right")
    pos = np.searchsorted(sub, np.arange(size), side="left")
    key = (sub << _T_BITS) + (t - (t.min() if n else 0))
    state = np.zeros(size, dtype=np.int64)
    fixed = np.zeros(size, dtype=np.int64)
    start_row = np.full(size, -1, dtype=np.int64)
    decide_row = np.full(size, -1, dtype=np.int64)
    while (open_ := np.flatnonzero(state == 0)).size:
        p = pos[open_]
        inside = p < ends[open_]
        nb = np.full(open_.size, n, dtype=np.int64)
        nb[inside] = next_below[p[inside]]
        none = nb >= ends[open_]
        state[open_[none]] = PASS
        go, nb = open_[~none], nb[~none]
        after = np.searchsorted(key, key[nb] + cure_ms, side="left")
        start_row[go] = nb
        running = after >= ends[go]
        state[go[running]] = RUNNING
        go, after = go[~running], after[~running]
        decide_row[go] = after
        still = below[after]
        state[go[still]] = EXIT
        fixed[go[~still]] += 1
        pos[go[~still]] = after[~still] + 1
    return Walk(state, start_row, decide_row, fixed)


def evaluate(window: Window, bar: Threshold, params: Params) -> list[Evaluation]:
    measured = ~np.isnan(window.download)
    rows = np.flatnonzero(measured)  # already sorted by subscriber, time
    t, rate = window.t_ms[rows], window.download[rows]
    cure_ms = int(params.seconds("cure_days") * 1000)
    w = walk(window.sub[rows], t, rate < bar.limit, window.size, cure_ms)
    tests = counting.per_subscriber(window, measured)
    failing = counting.per_subscriber(window, measured & (window.download < bar.limit))
    conf = counting.confidences("download", tests, failing, f"below {mbps(bar.limit)}")
    least = params.count("min_measurements")
    days = f"{float(params.seconds('cure_days') / 86400):g}"
    criteria: list[list[Criterion]] = []
    for i, contract in enumerate(window.contracts):
        zone = contract.zone
        note = f" ({w.fixed[i]} earlier cure period(s) ended fixed)" if w.fixed[i] else ""
        if tests[i] < least:
            c = Criterion(bar.id, "download", None,
                          f"{tests[i]} valid download tests; needs at least {least}")
        elif w.state[i] == PASS:
            c = Criterion(bar.id, "download", True,
                          f"{bar.label} reached in {tests[i] - failing[i]} of {tests[i]} tests, "
                          f"no shortfall outlasted the {days}-day cure period{note}")
        else:
            s = int(w.start_row[i])
            opened = f"below {bar.label} at {_local(int(t[s]), zone)} ({mbps(rate[s])})"
            if w.state[i] == RUNNING:
                until = _local(int(t[s]) + cure_ms, zone)
                c = Criterion(bar.id, "download", None,
                              f"{opened}; {days}-day cure period runs until {until}{note}")
            else:
                d = int(w.decide_row[i])
                c = Criterion(bar.id, "download", False,
                              f"{opened} and still below after the {days}-day cure period: "
                              f"{_local(int(t[d]), zone)} {mbps(rate[d])}; right to exit{note}")
        criteria.append([c])
    return counting.assemble(window, NAME, criteria, [[c] for c in conf])
