"""The de-bnetza campaign, vectorised over a fleet: select measurements, then judge (a)(b)(c).

The rules and their sources are in :mod:`probe.compliance.profiles.de_bnetza`. Selection is a
fixed number of vector steps, each one ``np.searchsorted`` over all (subscriber, day) groups at
once, so its cost does not depend on the number of subscribers:

1. within each local day, the greedy chain of up to 10 measurements that keeps the spacing
   (5 min, and ``gap_h`` before the 6th); a day with 10 is complete;
2. across complete days, for every possible first day, the earliest second and third day that
   keep the free-day and span rules; the first (or latest) chain that exists is the campaign.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np

from probe.compliance import counting
from probe.compliance.confidence import clopper_pearson
from probe.compliance.counting import Bools
from probe.compliance.params import Params, count_needed
from probe.compliance.profile import rate_label
from probe.compliance.profiles.de_bnetza import NAME, day_text
from probe.compliance.verdict import CampaignProgress, Confidence, Criterion, mbps, pct

if TYPE_CHECKING:
    from probe.compliance.contract import Direction, Plan
    from probe.compliance.frame import Ints, Window
    from probe.compliance.verdict import Evaluation

_T_BITS = 40  # ms since the window's first measurement: 2**40 ms is ~34 years
_D_BITS = 32


def _day_picks(sub: Ints, day: Ints, t: Ints, params: Params) -> tuple[Ints, Ints, Ints, Ints]:
    """Greedy picks per (subscriber, day) group → (group sub, group day, picks[G, n], count)."""
    per_day = params.count("measurements_per_day")
    if sub.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros((0, per_day), dtype=np.int64), empty
    new_group = np.ones(sub.size, dtype=bool)
    new_group[1:] = (sub[1:] != sub[:-1]) | (day[1:] != day[:-1])
    starts = np.flatnonzero(new_group)
    ends = np.append(starts[1:], sub.size)
    group = np.cumsum(new_group) - 1
    rel = t - t.min()
    if rel.max() >= 1 << _T_BITS:
        raise ValueError("measurements span more than 34 years")
    key = (group << _T_BITS) + rel
    spacing_ms = int(params.seconds("min_spacing_min") * 1000)
    gap_ms = int(params.seconds("gap_h") * 1000)
    gap_after = params.count("gap_after")
    picks = np.full((starts.size, per_day), -1, dtype=np.int64)
    picks[:, 0] = starts
    cur, alive = starts.copy(), np.ones(starts.size, dtype=bool)
    count = np.ones(starts.size, dtype=np.int64)
    for k in range(1, per_day):
        step = max(gap_ms, spacing_ms) if k == gap_after else spacing_ms
        nxt = np.searchsorted(key, key[cur] + step, side="left")
        ok = alive & (nxt < ends)
        picks[ok, k] = nxt[ok]
        count += ok
        alive = ok
        cur = np.where(ok, nxt, cur)
    return sub[starts], day[starts], picks, count


def _chains(q_sub: Ints, q_day: Ints, params: Params) -> tuple[Ints, Ints]:
    """For each complete day as first day: its chain (indices into q_*) and chain length."""
    days = params.count("measurement_days")
    step_days = params.count("min_free_days") + 1
    span = params.count("max_span_days")
    n = q_sub.size
    chain = np.full((n, days), -1, dtype=np.int64)
    length = np.ones(n, dtype=np.int64)
    if n == 0:
        return chain, length
    chain[:, 0] = np.arange(n)
    key = (q_sub << _D_BITS) + (q_day - q_day.min())
    cur, alive = np.arange(n), np.ones(n, dtype=bool)
    for k in range(1, days):
        nxt = np.searchsorted(key, key[cur] + step_days, side="left")
        safe = np.minimum(nxt, n - 1)
        ok = alive & (nxt < n) & (q_sub[safe] == q_sub) & (q_day[safe] - q_day <= span - 1)
        chain[ok, k] = nxt[ok]
        length += ok
        alive = ok
        cur = np.where(ok, nxt, cur)
    return chain, length


def _by_sub_day_time(sub: Ints, day: Ints, t: Ints) -> Ints:
    """``np.lexsort((t, day, sub))``, without the sort when the rows are in that order already:
    a window is by subscriber then time, and a local day only runs backwards where a clock
    change at midnight repeats an hour of the day before."""
    if sub.size > 1:
        d_sub, d_day = np.diff(sub), np.diff(day)
        ahead = (d_sub > 0) | ((d_sub == 0) & ((d_day > 0) | ((d_day == 0) & (np.diff(t) >= 0))))
        if ahead.all():  # already ordered: a stable sort would return the identity
            return np.arange(sub.size, dtype=np.int64)
    return np.asarray(np.lexsort((t, day, sub)), dtype=np.int64)


@dataclass(frozen=True, slots=True)
class Selection:
    """The chosen campaign per subscriber (``has``) with its day groups and window rows."""

    eligible: Bools  # window rows that can count (every judged direction measured)
    g_day: Ints  # local day of each (subscriber, day) group
    count: Ints  # measurements picked in each group
    best: Ints  # per subscriber: longest chain of complete days found
    last_group: Ints  # per subscriber: its latest day group (-1: none)
    has: Bools  # per subscriber: a complete campaign exists
    groups: Ints  # [S, days]: the campaign's day groups
    rows: Ints  # [S, days, per_day]: the campaign's window rows


def select(window: Window, params: Params, directions: tuple[Direction, ...]) -> Selection:
    size, per_day = window.size, params.count("measurements_per_day")
    days_needed = params.count("measurement_days")
    eligible = np.ones(window.sub.size, dtype=bool)
    for d in directions:
        eligible &= ~np.isnan(window.rates(d))
    rows = np.flatnonzero(eligible)
    rows = rows[_by_sub_day_time(window.sub[rows], window.day[rows], window.t_ms[rows])]
    g_sub, g_day, picks, count = _day_picks(window.sub[rows], window.day[rows],
                                            window.t_ms[rows], params)
    q = np.flatnonzero(count == per_day)
    chain, length = _chains(g_sub[q], g_day[q], params)
    cand = np.flatnonzero(length == days_needed)
    cand_sub = g_sub[q][cand]
    if params.choice("campaign") == "first":
        never = np.iinfo(np.int64).max
        chosen = np.full(size, never, dtype=np.int64)
        np.minimum.at(chosen, cand_sub, cand)
        chosen[chosen == never] = -1
    else:
        chosen = np.full(size, -1, dtype=np.int64)
        np.maximum.at(chosen, cand_sub, cand)
    best = np.zeros(size, dtype=np.int64)
    np.maximum.at(best, g_sub[q], length)
    last_group = np.full(size, -1, dtype=np.int64)
    np.maximum.at(last_group, g_sub, np.arange(g_sub.size))
    has = chosen >= 0
    groups = np.zeros((size, days_needed), dtype=np.int64)
    sel = np.zeros((size, days_needed, per_day), dtype=np.int64)
    if has.any():
        groups[has] = q[chain[chosen[has]]]
        sel[has] = rows[picks[groups[has]]]
    return Selection(eligible, g_day, count, best, last_group, has, groups, sel)


def _num(value: Fraction) -> str:
    return f"{float(value):g}"


def _progress(s: Selection, params: Params) -> list[CampaignProgress]:
    """Each subscriber's campaign progress; subscribers in the same state share one value."""
    per_day, days_needed = params.count("measurements_per_day"), params.count("measurement_days")
    needed = per_day * days_needed
    rules = (f"{per_day} valid measurements a day >= {_num(params.seconds('min_spacing_min') / 60)}"
             f" min apart, >= {_num(params.seconds('gap_h') / 3600)} h between the "
             f"{params.count('gap_after')}th and the next; days >= "
             f"{params.count('min_free_days')} calendar day(s) apart, within "
             f"{params.count('max_span_days')} days")

    def complete(day_list: tuple[int, ...]) -> CampaignProgress:
        text = ", ".join(day_text(d) for d in day_list)
        return CampaignProgress(True, days_needed, days_needed, needed, needed,
                                tuple(date.fromisoformat(day_text(d)) for d in day_list),
                                f"campaign complete: {needed} measurements on {text}")

    def incomplete(done: int, last_count: int, open_day: int | None) -> CampaignProgress:
        detail = (f"campaign incomplete: {done} of {days_needed} measurement days complete, "
                  f"{done * per_day + last_count} of {needed} measurements ({rules})")
        if open_day is not None:
            detail += f"; {day_text(open_day)} has {last_count} of {per_day}"
        return CampaignProgress(False, done, days_needed, done * per_day + last_count, needed,
                                (), detail)

    has: list[bool] = s.has.tolist()
    days: list[tuple[int, ...]] = [tuple(d) for d in s.g_day[s.groups].tolist()] \
        if s.has.any() else []
    best: list[int] = s.best.tolist()
    last: list[int] = s.last_group.tolist()
    count: list[int] = s.count.tolist()
    g_day: list[int] = s.g_day.tolist()
    done: dict[tuple[int, ...], CampaignProgress] = {}
    not_done: dict[tuple[int, int, int | None], CampaignProgress] = {}
    out = []
    for i, complete_i in enumerate(has):
        if complete_i:
            found = done.get(days[i])
            if found is None:
                found = done[days[i]] = complete(days[i])
        else:
            lg = last[i]
            open_day = lg >= 0 and count[lg] < per_day
            key = (best[i], count[lg] if open_day else 0, g_day[lg] if open_day else None)
            found = not_done.get(key)
            if found is None:
                found = not_done[key] = incomplete(*key)
        out.append(found)
    return out


def evaluate(
    window: Window, plan: Plan, params: Params, directions: tuple[Direction, ...],
    limits: Callable[[Plan, Direction, Params], tuple[float, float, float]],
) -> list[Evaluation]:
    size = window.size
    s = select(window, params, directions)
    campaigns = _progress(s, params)
    clause: dict[int, Criterion] = {}  # per shared progress value, one shared criterion
    for c in campaigns:
        if id(c) not in clause:
            clause[id(c)] = Criterion("campaign", "all", True if c.complete else None, c.detail)
    per_sub: list[list[Criterion]] = [[clause[id(c)]] for c in campaigns]
    conf: list[list[Confidence]] = [[] for _ in range(size)]
    for d in directions:
        bars = limits(plan, d, params)
        for i, (crit, cf) in enumerate(_judge(window, s, params, plan, d, bars=bars)):
            per_sub[i].extend(crit)
            conf[i].append(cf)
    return counting.assemble(window, NAME, per_sub, conf, campaigns)


def _judge(
    window: Window, s: Selection, params: Params, plan: Plan, d: Direction, *,
    bars: tuple[float, float, float],
) -> list[tuple[list[Criterion], Confidence]]:
    """(a), (b), (c) for one direction, per subscriber; the interval counts (b)'s failures.

    Criteria and intervals are frozen values of a few counts and dates, and a fleet has few
    distinct ones: each is made once and shared by every subscriber it describes."""
    max90, normal, minimum = bars
    days_needed, fail_days = params.count("measurement_days"), params.count("days_for_shortfall")
    total = params.count("measurements_per_day") * days_needed
    need_b = count_needed(params.share("normal_share"), total)
    values = window.rates(d)[s.rows] if window.sub.size else np.zeros(s.rows.shape)
    reached_day: list[list[bool]] = np.asarray((values >= max90).any(axis=2)).tolist()
    under_day: list[list[bool]] = np.asarray((values < minimum).any(axis=2)).tolist()
    normal_hits: list[int] = (values >= normal).sum(axis=(1, 2)).tolist()
    rows = s.eligible & ~np.isnan(window.rates(d))
    n_all = counting.per_subscriber(window, rows).tolist()
    hit_all = counting.per_subscriber(window, rows & (window.rates(d) >= normal)).tolist()
    campaign_days: list[list[int]] = s.g_day[s.groups].tolist() if s.has.any() else []
    has: list[bool] = s.has.tolist()
    a_label = rate_label("maximum", plan.rate(d, "maximum"), params.share("max_factor"))
    b_label = rate_label("normally_available", normal)
    c_label = rate_label("minimum", minimum)
    needs_b = pct(params.share("normal_share"))
    below = f"below {mbps(normal)}"
    intervals: dict[tuple[int, int], Confidence] = {}

    def interval(fails: int, n: int) -> Confidence:
        found = intervals.get((fails, n))
        if found is None:
            lower, upper = clopper_pearson(fails, n)
            found = intervals[fails, n] = Confidence(d, fails, n, lower, upper, 0.95, below)
        return found

    def day_clause(cid: str, text: str, dates: tuple[str, ...]) -> Criterion:
        return Criterion(cid, d, len(dates) < fail_days,
                         f"{text} on {len(dates)} of {days_needed} days{_list(dates)}; "
                         f"shortfall at {fail_days}")

    def b_clause(hits: int) -> Criterion:
        return Criterion("b-normal", d, hits >= need_b,
                         f"{b_label} reached in {hits} of {total} measurements "
                         f"({pct(hits, total)}), needs {needs_b}")

    made: dict[tuple[str, object], Criterion] = {}
    out: list[tuple[list[Criterion], Confidence]] = []
    for i in range(window.size):
        if not has[i]:
            out.append(([], interval(n_all[i] - hit_all[i], n_all[i])))
            continue
        dates = tuple(day_text(day) for day in campaign_days[i])
        missed = tuple(dates[k] for k in range(days_needed) if not reached_day[i][k])
        under = tuple(dates[k] for k in range(days_needed) if under_day[i][k])
        hits = normal_hits[i]
        crit = [
            made.get(("a", missed)) or made.setdefault(("a", missed), day_clause(
                "a-maximum", f"{a_label} not reached even once", missed)),
            made.get(("b", hits)) or made.setdefault(("b", hits), b_clause(hits)),
            made.get(("c", under)) or made.setdefault(("c", under), day_clause(
                "c-minimum", f"{c_label} undercut", under)),
        ]
        out.append((crit, interval(total - hits, total)))
    return out


def _list(dates: tuple[str, ...]) -> str:
    return f" ({', '.join(dates)})" if dates else ""
