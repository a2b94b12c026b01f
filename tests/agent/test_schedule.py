"""Table tests for the sans-I/O schedule: jitter, never on the minute, peak density, budget."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from probe.agent.agenda import Agenda, Slot
from probe.agent.schedule import (
    SchedulePolicy,
    first_test,
    next_regular,
    off_the_minute,
    retry_delay_s,
)
from probe.agent.state import AgentState

BERLIN = ZoneInfo("Europe/Berlin")
T0 = datetime(2026, 3, 2, 5, 0, 0, tzinfo=UTC)  # 06:00 in Berlin


def policy(**kw: object) -> SchedulePolicy:
    base: dict[str, object] = {"interval_s": 3600.0, "peak_interval_s": 1200.0, "jitter": 0.25,
                               "peak_hours": (19.0, 23.0), "zone": BERLIN}
    base.update(kw)
    return SchedulePolicy(**base)  # type: ignore[arg-type]


def run_day(p: SchedulePolicy, seed: int, days: int = 1) -> list[datetime]:
    rng = random.Random(seed)
    t, out = T0, []
    end = T0 + timedelta(days=days)
    while t < end:
        t = next_regular(t, p, rng.random)
        out.append(t)
    return out[:-1]


@pytest.mark.parametrize(("jitter", "low", "high"), [
    (0.0, 3600, 3600), (0.1, 3240, 3960), (0.25, 2700, 4500), (0.5, 1800, 5400),
])
def test_jitter_bounds_the_gap_outside_the_peak(jitter: float, low: float, high: float) -> None:
    rng = random.Random(7)
    p = policy(jitter=jitter, peak_interval_s=3600.0)
    gaps = []
    for k in range(2000):
        start = T0 + timedelta(seconds=17 * k + 11)
        gaps.append((next_regular(start, p, rng.random) - start).total_seconds())
    # The minute guard may add up to 20 s on top of the jittered gap.
    assert min(gaps) >= low - 0.001
    assert max(gaps) <= high + 20.001
    if jitter:
        assert max(gaps) - min(gaps) > (high - low) * 0.9  # it really varies


@pytest.mark.parametrize("seed", range(5))
def test_never_on_the_minute(seed: int) -> None:
    times = run_day(policy(jitter=0.0, interval_s=600.0, peak_interval_s=600.0), seed, days=3)
    assert times
    assert all(5 <= t.second + t.microsecond / 1e6 < 55 for t in times)


@pytest.mark.parametrize(("second", "moved"), [(0.0, True), (4.9, True), (5.0, False),
                                               (30.0, False), (54.9, False), (55.0, True),
                                               (59.99, True)])
def test_minute_guard(second: float, moved: bool) -> None:
    t = T0 + timedelta(minutes=3, seconds=second)
    out = off_the_minute(t, lambda: 0.5)
    assert (out != t) is moved
    assert 5 <= out.second + out.microsecond / 1e6 < 55
    assert out - t < timedelta(seconds=21)


@pytest.mark.parametrize(("interval_min", "peak_min", "peak_hours", "in_peak", "outside"), [
    # 4 peak hours at 20 min ~ 12 tests; the 20 other hours at 60 min ~ 20.
    (60, 20, (19.0, 23.0), (11, 13), (18, 21)),
    (60, 10, (19.0, 23.0), (22, 25), (18, 21)),
    (120, 30, (18.0, 24.0), (11, 13), (8, 10)),
    (60, 60, (19.0, 23.0), (3, 5), (18, 21)),
])
def test_peak_hours_are_denser(interval_min: int, peak_min: int,
                               peak_hours: tuple[float, float],
                               in_peak: tuple[int, int], outside: tuple[int, int]) -> None:
    p = policy(interval_s=interval_min * 60.0, peak_interval_s=peak_min * 60.0,
               peak_hours=peak_hours)
    per_day_peak, per_day_other = [], []
    for seed in range(20):
        times = run_day(p, seed, days=7)
        local = [t.astimezone(BERLIN) for t in times]
        hours = [t.hour + t.minute / 60 for t in local]
        peak = sum(peak_hours[0] <= h < peak_hours[1] for h in hours)
        per_day_peak.append(peak / 7)
        per_day_other.append((len(times) - peak) / 7)
    mean_peak = sum(per_day_peak) / len(per_day_peak)
    mean_other = sum(per_day_other) / len(per_day_other)
    assert in_peak[0] <= mean_peak <= in_peak[1], mean_peak
    assert outside[0] <= mean_other <= outside[1], mean_other


def test_the_peak_is_entered_at_its_start_not_late() -> None:
    p = policy(jitter=0.0, interval_s=3 * 3600.0)
    start = datetime(2026, 3, 2, 17, 10, 7, tzinfo=UTC)  # 18:10 local, peak starts 19:00
    due = next_regular(start, p, lambda: 0.5).astimezone(BERLIN)
    assert (due.hour, due.minute) < (19, 5)
    assert due.hour == 19


def test_peak_hours_follow_the_local_clock_across_dst() -> None:
    p = policy(jitter=0.0, interval_s=3600.0)
    # 2026-03-29: Berlin goes from UTC+1 to UTC+2.
    rng = random.Random(1)
    t = datetime(2026, 3, 28, 12, 0, 7, tzinfo=UTC)
    counts: Counter[int] = Counter()
    while t < datetime(2026, 3, 31, tzinfo=UTC):
        t = next_regular(t, p, rng.random)
        local = t.astimezone(BERLIN)
        if 19 <= local.hour < 23:
            counts[local.day] += 1
    assert counts[29] >= 10
    assert counts[30] >= 10


@pytest.mark.parametrize(("budget_mb", "test_mb", "expected_tests"), [
    (None, 250, 31),  # unlimited: the schedule alone (20 + 11 in the peak)
    (1000, 250, 4),
    (1000, 300, 3),
    (250, 250, 1),
    (249, 250, 0),
])
def test_daily_data_budget(budget_mb: int | None, test_mb: int,
                           expected_tests: int) -> None:
    p = policy(jitter=0.0, daily_budget_bytes=None if budget_mb is None else budget_mb * 10**6)
    agenda = Agenda(p, None, random.Random(3).random)
    state = AgentState(next_regular_at=datetime(2026, 3, 1, 23, 30, 7, tzinfo=UTC))
    now = datetime(2026, 3, 1, 23, 0, 7, tzinfo=UTC)  # 00:00 local on 2 March
    day_end = datetime(2026, 3, 2, 23, 0, tzinfo=UTC)
    ran = 0
    from tests.agent.simulate import measurement

    while True:
        slot, state = agenda.plan(now, state, [])
        if slot.at >= day_end:
            break
        now = slot.at
        admitted, state = agenda.admit(state, slot, now, test_mb * 10**6)
        if not admitted:
            assert state.last_skip_reason == "daily data budget"
            # Over budget: the next regular test is on the next local day.
            assert state.next_regular_at is not None
            assert state.next_regular_at.astimezone(BERLIN).date().day == 3
            continue
        state = agenda.completed(state, slot, measurement(now, 100.0, 10.0), test_mb * 10**6)
        ran += 1
    assert ran in (expected_tests, expected_tests + 1) if budget_mb is None else \
        ran == expected_tests
    # A new local day has a new budget.
    assert state.used_on(datetime(2026, 3, 3).date()) == 0


@pytest.mark.parametrize(("failures", "low", "high"), [(1, 60, 120), (2, 120, 240),
                                                       (3, 240, 480), (10, 900, 1800)])
def test_retry_backoff(failures: int, low: float, high: float) -> None:
    assert retry_delay_s(failures, lambda: 0.0) == low
    assert retry_delay_s(failures, lambda: 0.999999) == pytest.approx(high, rel=1e-5)


def test_first_test_after_restart_keeps_the_rhythm() -> None:
    p = policy(jitter=0.0)
    last = T0 - timedelta(minutes=10)
    due = first_test(T0, last, p, lambda: 0.5)
    assert due - last >= timedelta(minutes=60)
    # After a long outage: soon, but not at once (a fleet restarting together spreads out).
    due = first_test(T0, T0 - timedelta(days=2), p, lambda: 0.5)
    assert timedelta(seconds=18) <= due - T0 <= timedelta(minutes=4)


def test_failed_and_deferred_tests_are_retried_later() -> None:
    agenda = Agenda(policy(), None, random.Random(1).random)
    slot, state = agenda.plan(T0, AgentState(), [])
    state = agenda.failed(state, slot.at)
    again, state = agenda.plan(slot.at, state, [])
    assert again.at >= slot.at + timedelta(seconds=60)
    state = agenda.deferred(state, again.at, 300)
    third, _ = agenda.plan(again.at, state, [])
    assert third.at == again.at + timedelta(seconds=300)
    assert isinstance(third, Slot)
