"""When the next regular test is due: base interval, jitter, peak density, daily data budget.

Sans-I/O: every function takes the current time and a ``rand() -> [0, 1)`` source as
arguments, so a simulated month runs in milliseconds and tests are reproducible.

- **Jitter**: each gap is the interval times ``1 ± jitter`` (uniform), and no test starts
  within :data:`MINUTE_GUARD_S` of a full minute — cron-style schedules on many probes pile onto
  the servers at ``:00`` and measure each other's traffic.
- **Peak density**: inside the contract's peak hours (subscriber's local time) the gap is
  ``peak_interval_s``; a gap that would jump over the start of the peak is cut short so the peak
  is not entered late.
- **Data budget** (metered lines): when today's bytes plus the expected cost of a test exceed
  the daily budget, the next regular test waits for the next local day.
- **Retries**: a failed or deferred test is retried after an exponential, jittered backoff.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

Rand = Callable[[], float]

MINUTE_GUARD_S = 5.0
RETRY_INITIAL_S = 120.0
RETRY_MAX_S = 1800.0


@dataclass(frozen=True, slots=True)
class SchedulePolicy:
    """The regular schedule of one agent (from ``[schedule]`` and the contract)."""

    interval_s: float
    peak_interval_s: float
    jitter: float
    peak_hours: tuple[float, float]
    zone: tzinfo
    daily_budget_bytes: int | None = None


def local_day(moment: datetime, zone: tzinfo) -> date:
    return moment.astimezone(zone).date()


def hour_of_day(moment: datetime, zone: tzinfo) -> float:
    local = moment.astimezone(zone)
    return local.hour + local.minute / 60 + (local.second + local.microsecond / 1e6) / 3600


def at_local(day: date, hour: float, zone: tzinfo) -> datetime:
    """The aware moment of ``hour`` (fractional) on local ``day``, in UTC terms."""
    midnight = datetime.combine(day, time(0), tzinfo=zone)
    # Wall-clock arithmetic (hours after local midnight), then normalised: a DST change day
    # has 23 or 25 hours, and the rule speaks of local clock hours.
    whole = int(hour)
    wall = midnight.replace(hour=min(whole, 23)) + timedelta(hours=hour - min(whole, 23))
    return wall.astimezone(zone)


def in_peak(moment: datetime, policy: SchedulePolicy) -> bool:
    start, end = policy.peak_hours
    return start <= hour_of_day(moment, policy.zone) < end


def off_the_minute(moment: datetime, rand: Rand) -> datetime:
    """``moment``, moved 5-15 s past the minute if it falls within 5 s of a full minute."""
    second = moment.second + moment.microsecond / 1e6
    if second < MINUTE_GUARD_S:
        return moment + timedelta(seconds=MINUTE_GUARD_S - second + rand() * 10)
    if second >= 60 - MINUTE_GUARD_S:
        return moment + timedelta(seconds=60 - second + MINUTE_GUARD_S + rand() * 10)
    return moment


def jittered(seconds: float, jitter: float, rand: Rand) -> float:
    return float(seconds * (1 + jitter * (2 * rand() - 1)))


def next_regular(after: datetime, policy: SchedulePolicy, rand: Rand) -> datetime:
    """The next regular test after a test (or start) at ``after``."""
    base = policy.peak_interval_s if in_peak(after, policy) else policy.interval_s
    candidate = after + timedelta(seconds=jittered(base, policy.jitter, rand))
    if not in_peak(after, policy) and policy.peak_interval_s < policy.interval_s:
        peak_start = _next_peak_start(after, policy)
        if peak_start < candidate:
            # Enter the peak within its first (jittered) dense gap instead of arbitrarily late.
            candidate = peak_start + timedelta(seconds=rand() * policy.peak_interval_s
                                               * max(policy.jitter, 0.1))
    return off_the_minute(candidate, rand)


def _next_peak_start(after: datetime, policy: SchedulePolicy) -> datetime:
    day = local_day(after, policy.zone)
    for offset in range(3):
        start = at_local(day + timedelta(days=offset), policy.peak_hours[0], policy.zone)
        if start > after:
            return start
    return after + timedelta(days=2)  # pragma: no cover - a peak starts every day


def budget_allows(used_bytes: int, expected_bytes: int, policy: SchedulePolicy) -> bool:
    """Whether one more test of ``expected_bytes`` fits today's budget."""
    return policy.daily_budget_bytes is None or used_bytes + expected_bytes \
        <= policy.daily_budget_bytes


def next_local_day(moment: datetime, policy: SchedulePolicy, rand: Rand) -> datetime:
    """A random moment in the first interval of the next local day (budget exhausted)."""
    day = local_day(moment, policy.zone) + timedelta(days=1)
    start = at_local(day, 0.0, policy.zone)
    return off_the_minute(start + timedelta(seconds=rand() * min(policy.interval_s, 3600)), rand)


def retry_delay_s(failures: int, rand: Rand) -> float:
    """Equal-jitter exponential backoff for the ``failures``-th failure in a row (1-based)."""
    cap = min(RETRY_MAX_S, RETRY_INITIAL_S * 2 ** max(failures - 1, 0))
    return float(cap / 2 + rand() * cap / 2)


def first_test(now: datetime, last_test_at: datetime | None, policy: SchedulePolicy,
               rand: Rand) -> datetime:
    """The first regular test after a (re)start: the schedule continues, never a burst.

    A restart shortly after a test keeps the old rhythm; a long pause (or a fresh start) tests
    within a few minutes, spread so a fleet restarting together does not test together.
    """
    if last_test_at is not None:
        due = next_regular(last_test_at, policy, rand)
        if due > now:
            return due
    spread = min(policy.interval_s, 180.0)
    return off_the_minute(now + timedelta(seconds=spread * (0.1 + 0.9 * rand())), rand)
