"""The agent's agenda: which test is next, and how each outcome moves the plan on.

Sans-I/O; the daemon (probe.agent.daemon) and the scheduler simulation
(tests/agent/test_simulation.py) drive the same transitions, so a simulated month exercises
what runs on the router. Inputs are the current time, the :class:`~probe.agent.state.AgentState`
and the start times of the valid measurements so far (what the campaign counts).

Outcomes: **completed** (stored; the regular rhythm continues from its start), **deferred**
(the gate or the clock said not now: retry after the given delay), **skipped** (deferred too
long, or over the data budget: counted with the reason), **failed** (the server or the line
failed: retry after an exponential backoff). A campaign test that did not happen is simply
not among the valid starts, so the campaign plans it again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal, Protocol

from probe.agent.campaign import Campaign, CampaignStatus
from probe.agent.schedule import (
    Rand,
    SchedulePolicy,
    budget_allows,
    first_test,
    local_day,
    next_local_day,
    next_regular,
    retry_delay_s,
)
from probe.agent.state import AgentState
from probe.measurement import Measurement

SlotKind = Literal["campaign", "regular"]


@dataclass(frozen=True, slots=True)
class Slot:
    at: datetime
    kind: SlotKind


def counts_as_valid(m: Measurement, directions: Sequence[str]) -> bool:
    """Whether the verdict will count this measurement (unflagged, every judged direction)."""
    rates = {"download": m.download_mbps, "upload": m.upload_mbps}
    return not m.flags and all(rates.get(d) is not None for d in directions)


class StoredTest(Protocol):
    """What the store gives back for one test (probe.store.StoredRecord has these)."""

    @property
    def subscriber_id(self) -> str | None: ...

    @property
    def measurement(self) -> Measurement: ...


def valid_starts(rows: Iterable[StoredTest], subscriber_id: str,
                 directions: Sequence[str]) -> list[datetime]:
    """Start times of this subscriber's stored tests that the verdict will count, in order."""
    return sorted(row.measurement.started_at for row in rows
                  if row.subscriber_id in (None, subscriber_id)
                  and counts_as_valid(row.measurement, directions))


class Agenda:
    def __init__(self, policy: SchedulePolicy, campaign: Campaign | None, rand: Rand) -> None:
        self.policy, self.campaign, self.rand = policy, campaign, rand

    def campaign_status(self, valid: Sequence[datetime]) -> CampaignStatus | None:
        return None if self.campaign is None else self.campaign.status(valid)

    def plan(self, now: datetime, state: AgentState, valid: Sequence[datetime], *,
             at_once: bool = False) -> tuple[Slot, AgentState]:
        """The next slot (possibly already due) and the state with campaign end noted.

        ``at_once``: a test was asked for now (``probe agent --runs N``'s first), so the slot
        is due now: not spread, not off the minute, not held back by an earlier run's retry
        backoff. A campaign slot not yet due becomes a regular one; the campaign counts the
        test like any other valid one and plans around it."""
        campaign_due = None
        if self.campaign is not None and state.campaign_completed_at is None:
            campaign_due = self.campaign.next_due(now, valid, self.rand)
            if campaign_due is None:
                state = replace(state, campaign_completed_at=now)
        pause = campaign_due is not None and self.campaign is not None \
            and self.campaign.pauses_regular
        slot: Slot | None = None
        if campaign_due is not None:
            slot = Slot(campaign_due, "campaign")
        if not pause:
            regular = state.next_regular_at or first_test(now, state.last_test_at, self.policy,
                                                          self.rand)
            if state.next_regular_at is None:
                state = replace(state, next_regular_at=regular)
            if slot is None or regular < slot.at:
                slot = Slot(regular, "regular")
        assert slot is not None
        if at_once:
            return Slot(now, slot.kind if slot.at <= now else "regular"), state
        if state.not_before is not None and slot.at < state.not_before:
            slot = Slot(state.not_before, slot.kind)
        return slot, state

    def admit(self, state: AgentState, slot: Slot, now: datetime,
              expected_bytes: int) -> tuple[bool, AgentState]:
        """The data budget: a regular test that would exceed today's budget waits a day.

        Campaign tests are admitted regardless: the campaign is the reason the line is
        metered-tested at all, and the config check warns when it cannot fit the budget.
        """
        used = state.used_on(local_day(now, self.policy.zone))
        if slot.kind == "campaign" or budget_allows(used, expected_bytes, self.policy):
            return True, state
        return False, replace(
            state, tests_skipped=state.tests_skipped + 1, last_skip_reason="daily data budget",
            next_regular_at=next_local_day(now, self.policy, self.rand))

    def completed(self, state: AgentState, slot: Slot, measurement: Measurement,
                  transferred_bytes: int, *, unsynchronised: bool = False) -> AgentState:
        started = measurement.started_at
        state = state.spend(local_day(started, self.policy.zone), transferred_bytes)
        changes: dict[str, object] = {
            "tests_run": state.tests_run + 1, "last_test_at": started, "failures_in_row": 0,
            "not_before": None,
            "tests_unsynchronised": state.tests_unsynchronised + int(unsynchronised),
        }
        if slot.kind == "regular" or state.next_regular_at is None \
                or state.next_regular_at <= started:
            changes["next_regular_at"] = next_regular(started, self.policy, self.rand)
        if slot.kind == "campaign" and state.campaign_started_at is None:
            changes["campaign_started_at"] = started
        return replace(state, **changes)  # type: ignore[arg-type]

    def deferred(self, state: AgentState, now: datetime, delay_s: float) -> AgentState:
        return replace(state, tests_deferred=state.tests_deferred + 1,
                       not_before=now + timedelta(seconds=max(delay_s, 1.0)))

    def skipped(self, state: AgentState, slot: Slot, now: datetime, reason: str) -> AgentState:
        """Given up on this slot (e.g. deferred past ``max_defer_s``): move on, count it."""
        changes: dict[str, object] = {"tests_skipped": state.tests_skipped + 1,
                                      "last_skip_reason": reason, "not_before": None}
        if slot.kind == "regular":
            changes["next_regular_at"] = next_regular(now, self.policy, self.rand)
        else:
            changes["not_before"] = now + timedelta(seconds=retry_delay_s(1, self.rand))
        return replace(state, **changes)  # type: ignore[arg-type]

    def failed(self, state: AgentState, now: datetime) -> AgentState:
        failures = state.failures_in_row + 1
        return replace(state, tests_failed=state.tests_failed + 1, failures_in_row=failures,
                       not_before=now + timedelta(seconds=retry_delay_s(failures, self.rand)))
