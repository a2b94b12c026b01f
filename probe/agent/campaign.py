"""Campaign mode: the tests a contract's rule profile needs, planned from the tests already made.

Sans-I/O. A campaign never keeps a plan of its own that could drift from the evidence: each
call recomputes progress from the start times of the **valid** measurements in the store
(unflagged, every judged direction measured — what the verdict counts), with the profile's own
parameters (probe.compliance.profiles), so the schedule and ``probe evaluate`` cannot disagree.
A deferred or failed test simply is not there, and the next call plans around it.

- ``de-bnetza`` (:class:`BnetzaCampaign`): per local day the same greedy chain the verdict
  selects (first test, then each next one >= ``min_spacing_min`` later, >= ``gap_h`` before the
  ``gap_after + 1``-th); a day with ``measurements_per_day`` is complete; complete days at
  least ``min_free_days + 1`` days apart, all within ``max_span_days``. A day that can no longer
  be completed before local midnight is given up and the campaign moves to the next admissible
  day; a chain of days that can no longer fit its span is started afresh. While the campaign
  runs the agent makes no other tests (the free days stay free).
- ``us-fcc`` (:class:`WindowCampaign`): ``min_measurements`` valid tests inside the local
  testing hours, about one an hour (the CAF practice); regular tests continue meanwhile.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Protocol

from probe.agent.schedule import Rand, at_local, hour_of_day, local_day, off_the_minute
from probe.compliance.params import Params

# Spacing margins: a test's recorded start is when its run began, which is never earlier than
# planned, so margins only have to cover clock granularity and jitter — not the test's length.
SPACING_MARGIN_S = 60.0
GAP_MARGIN_S = 300.0
# A campaign day must leave this much slack before local midnight for deferrals and retries.
DAY_SLACK_S = 2 * 3600.0


@dataclass(frozen=True, slots=True)
class CampaignStatus:
    profile: str
    complete: bool
    done: int  # measurements that count so far
    needed: int
    days_done: int = 0
    days_needed: int = 0
    detail: str = ""

    def to_json_dict(self) -> dict[str, object]:
        return {"profile": self.profile, "complete": self.complete, "done": self.done,
                "needed": self.needed, "days_done": self.days_done,
                "days_needed": self.days_needed, "detail": self.detail}


class Campaign(Protocol):
    name: str
    pauses_regular: bool

    def status(self, valid: Sequence[datetime]) -> CampaignStatus: ...

    def next_due(self, now: datetime, valid: Sequence[datetime], rand: Rand) -> datetime | None:
        """When the next campaign test is due (may be ``now``); None once complete."""
        ...


class BnetzaCampaign:
    """The §57(4) TKG campaign: 10 tests on each of 3 days, with spacing and free days."""

    name = "de-bnetza"
    pauses_regular = True

    def __init__(self, params: Params, zone: tzinfo, *, day_start_hour: float = 14.0,
                 spacing_s: float = 15 * 60.0, jitter: float = 0.25) -> None:
        self.zone = zone
        self.per_day = params.count("measurements_per_day")
        self.days = params.count("measurement_days")
        self.step_days = params.count("min_free_days") + 1
        self.span_days = params.count("max_span_days")
        self.gap_after = params.count("gap_after")
        self.min_spacing_s = float(params.seconds("min_spacing_min"))
        self.gap_s = max(float(params.seconds("gap_h")), self.min_spacing_s)
        self.spacing_s = max(spacing_s, self.min_spacing_s + SPACING_MARGIN_S)
        self.day_start_hour = day_start_hour
        self.jitter = jitter

    # -- progress, by the verdict's own selection rule --------------------------------------

    def _step_s(self, k: int) -> float:
        """Minimum start-to-start time before the (k+1)-th test of a day (k 1-based)."""
        return self.gap_s if k == self.gap_after else self.min_spacing_s

    def day_picks(self, starts: Sequence[datetime]) -> list[datetime]:
        """The greedy chain of one day's sorted starts (de_bnetza_campaign._day_picks)."""
        picks: list[datetime] = []
        for t in starts:
            if not picks or (len(picks) < self.per_day and \
                    (t - picks[-1]).total_seconds() >= self._step_s(len(picks))):
                picks.append(t)
        return picks

    def _by_day(self, valid: Sequence[datetime]) -> dict[date, list[datetime]]:
        days: dict[date, list[datetime]] = {}
        for t in sorted(valid):
            days.setdefault(local_day(t, self.zone), []).append(t)
        return {d: self.day_picks(ts) for d, ts in days.items()}

    def _chains(self, complete: list[date]) -> list[list[date]]:
        """From each complete day as first: the earliest admissible chain (as the verdict)."""
        chains = []
        for i, first in enumerate(complete):
            chain = [first]
            for day in complete[i + 1:]:
                if len(chain) == self.days:
                    break
                if (day - chain[-1]).days >= self.step_days and \
                        (day - first).days <= self.span_days - 1:
                    chain.append(day)
            chains.append(chain)
        return chains

    def status(self, valid: Sequence[datetime]) -> CampaignStatus:
        picks = self._by_day(valid)
        complete = sorted(d for d, p in picks.items() if len(p) >= self.per_day)
        chains = self._chains(complete)
        best = max((len(c) for c in chains), default=0)
        done_chain = next((c for c in chains if len(c) == self.days), None)
        needed = self.per_day * self.days
        if done_chain is not None:
            text = ", ".join(d.isoformat() for d in done_chain)
            return CampaignStatus(self.name, True, needed, needed, self.days, self.days,
                                  f"campaign complete: {needed} measurements on {text}")
        open_days = [d for d, p in picks.items() if len(p) < self.per_day]
        partial = len(picks[max(open_days)]) if open_days else 0
        return CampaignStatus(self.name, False, best * self.per_day + partial, needed, best,
                              self.days, f"{best} of {self.days} days complete")

    # -- planning -----------------------------------------------------------------------------

    def _live_chain(self, chains: list[list[date]], today: date) -> list[date]:
        """The longest chain that can still be completed starting today or later."""
        live = []
        for chain in chains:
            earliest = max(today, chain[-1] + timedelta(days=self.step_days))
            last_needed = earliest + timedelta(days=self.step_days * (self.days - len(chain) - 1))
            if (last_needed - chain[0]).days <= self.span_days - 1:
                live.append(chain)
        return max(live, key=lambda c: (len(c), c[0]), default=[])

    def _finish_time(self, start: datetime, have: int) -> datetime:
        """When a day with ``have`` picks, the last at ``start``, would get its last test."""
        t = start
        for k in range(max(have, 1), self.per_day):
            t += timedelta(seconds=self._planned_step_s(k, 1.0))
        return t

    def _planned_step_s(self, k: int, r: float) -> float:
        if k == self.gap_after:
            return self.gap_s + GAP_MARGIN_S + r * GAP_MARGIN_S * 2
        return self.spacing_s * (1 + self.jitter * r)

    def _day_feasible(self, first: datetime, have: int, day: date) -> bool:
        midnight = at_local(day + timedelta(days=1), 0.0, self.zone)
        return self._finish_time(first, have) + timedelta(seconds=DAY_SLACK_S) <= midnight

    def next_due(self, now: datetime, valid: Sequence[datetime], rand: Rand) -> datetime | None:
        picks = self._by_day(valid)
        complete = sorted(d for d, p in picks.items() if len(p) >= self.per_day)
        chains = self._chains(complete)
        if any(len(c) == self.days for c in chains):
            return None
        today = local_day(now, self.zone)
        chain = self._live_chain(chains, today)
        earliest = today if not chain else max(today, chain[-1] + timedelta(days=self.step_days))
        if earliest == today and today not in complete:
            have = picks.get(today, [])
            if have:
                step = self._planned_step_s(len(have), rand())
                due = max(now, have[-1] + timedelta(seconds=step))
                if self._day_feasible(due, len(have) + 1, today):
                    return off_the_minute(due, rand)
            else:
                due = max(now, self._day_start(today, rand))
                if self._day_feasible(due, 1, today):
                    return off_the_minute(due, rand)
            earliest = today + timedelta(days=1)
        elif earliest == today:
            earliest = today + timedelta(days=self.step_days)
        return off_the_minute(max(now, self._day_start(earliest, rand)), rand)

    def _day_start(self, day: date, rand: Rand) -> datetime:
        return at_local(day, self.day_start_hour, self.zone) + timedelta(
            seconds=rand() * self.spacing_s)


class WindowCampaign:
    """``needed`` valid tests inside local hours [start, end), about one every ``spacing_s``."""

    pauses_regular = False

    def __init__(self, name: str, hours: tuple[float, float], needed: int, zone: tzinfo,
                 *, spacing_s: float = 3600.0) -> None:
        self.name, self.hours, self.needed, self.zone = name, hours, needed, zone
        self.spacing_s = spacing_s

    def counted(self, valid: Sequence[datetime]) -> list[datetime]:
        start, end = self.hours
        return sorted(t for t in valid if start <= hour_of_day(t, self.zone) < end)

    def status(self, valid: Sequence[datetime]) -> CampaignStatus:
        n = len(self.counted(valid))
        done = n >= self.needed
        hours = f"{self.hours[0]:g}-{self.hours[1]:g} h local"
        return CampaignStatus(self.name, done, min(n, self.needed), self.needed,
                              detail=f"{n} of {self.needed} tests in the testing hours ({hours})")

    def next_due(self, now: datetime, valid: Sequence[datetime], rand: Rand) -> datetime | None:
        counted = self.counted(valid)
        if len(counted) >= self.needed:
            return None
        start, end = self.hours
        today = local_day(now, self.zone)
        window_end = at_local(today, end, self.zone)
        due = max(now, at_local(today, start, self.zone) + timedelta(
            seconds=rand() * self.spacing_s / 6))
        if counted and counted[-1] > due - timedelta(seconds=self.spacing_s):
            due = counted[-1] + timedelta(seconds=self.spacing_s * (1 + 0.1 * rand()))
        due = off_the_minute(due, rand)
        if due >= window_end - timedelta(seconds=120):
            tomorrow = today + timedelta(days=1)
            due = off_the_minute(at_local(tomorrow, start, self.zone) + timedelta(
                seconds=rand() * self.spacing_s / 6), rand)
        return due
