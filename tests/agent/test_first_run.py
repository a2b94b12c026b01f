"""``probe agent --runs N`` starts its first test at once; the schedule decides the rest.

A bounded run is asked for now (a script, a technician, a test): its first test is not spread
over the first interval, not moved off the full minute and not held back by an earlier run's
retry backoff. The daemon keeps the schedule for every test after it.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from probe.agent.agenda import Agenda
from probe.agent.clock import ClockReading
from probe.agent.config import ScheduleConfig, ServerConfig
from probe.agent.daemon import Agent, AgentDeps
from probe.agent.state import AgentState
from probe.agent.wiring import campaign_for, schedule_policy
from probe.measurement import Measurement
from probe.store import SqliteStore
from tests.agent.simulate import config_for, load_contract, measurement

# 12:00:02 UTC: inside the minute guard, so a scheduled test could never be due now.
ON_THE_MINUTE = datetime(2026, 3, 2, 12, 0, 2, tzinfo=UTC)


def _agenda(campaign: str = "off", interval_s: float = 3600.0) -> Agenda:
    contract = load_contract("de-cable-1000.toml")
    config = config_for(ScheduleConfig(interval_s=interval_s, peak_interval_s=interval_s,
                                       campaign=campaign))
    return Agenda(schedule_policy(config, contract),
                  campaign_for(config, contract, contract.zone), random.Random(3).random)


class TestAgendaAtOnce:
    def test_a_fresh_start_is_spread_and_off_the_minute(self) -> None:
        slot, _ = _agenda().plan(ON_THE_MINUTE, AgentState(), [])
        assert slot.at > ON_THE_MINUTE + timedelta(seconds=3)
        assert slot.at.second >= 5

    def test_asked_for_now_it_is_due_now(self) -> None:
        slot, state = _agenda().plan(ON_THE_MINUTE, AgentState(), [], at_once=True)
        assert (slot.at, slot.kind) == (ON_THE_MINUTE, "regular")
        # The regular rhythm is still planned for the tests after it.
        assert state.next_regular_at is not None
        assert state.next_regular_at > ON_THE_MINUTE

    def test_not_held_back_by_an_earlier_retry_backoff_or_rhythm(self) -> None:
        state = AgentState(last_test_at=ON_THE_MINUTE - timedelta(minutes=5),
                           next_regular_at=ON_THE_MINUTE + timedelta(minutes=55),
                           not_before=ON_THE_MINUTE + timedelta(minutes=20))
        assert _agenda().plan(ON_THE_MINUTE, state, [])[0].at > ON_THE_MINUTE
        slot, _ = _agenda().plan(ON_THE_MINUTE, state, [], at_once=True)
        assert slot.at == ON_THE_MINUTE

    def test_a_campaign_slot_not_yet_due_becomes_a_regular_test_now(self) -> None:
        # de-bnetza: the campaign's day starts at 12:00 local (11:00 UTC); at 05:00 UTC its
        # first slot is hours away.
        early = datetime(2026, 3, 2, 5, 0, 0, tzinfo=UTC)
        planned, _ = _agenda(campaign="auto").plan(early, AgentState(), [])
        assert planned.kind == "campaign"
        assert planned.at > early + timedelta(hours=1)
        slot, _ = _agenda(campaign="auto").plan(early, AgentState(), [], at_once=True)
        assert (slot.at, slot.kind) == (early, "regular")


def _run(tmp_path: Path, runs: int) -> list[float]:
    """Run a daemon with a one-hour schedule; the seconds from start to each test."""
    contract = load_contract("de-cable-1000.toml")
    config = config_for(ScheduleConfig(interval_s=3600.0, peak_interval_s=3600.0,
                                       campaign="off"))
    started = time.monotonic()
    offsets: list[float] = []

    async def fake_measure(server: ServerConfig) -> Measurement:
        offsets.append(time.monotonic() - started)
        if runs > 1:  # the second test is an hour away: stop the agent once this one is kept
            asyncio.get_running_loop().call_later(0.5, agent.stop)
        return replace(measurement(datetime.now(UTC), 950.0, 48.0), server=server.url)

    deps = AgentDeps(measure=fake_measure,
                     open_store=lambda: SqliteStore.open(tmp_path / "probe.db"),
                     make_forwarder=lambda _s: None,
                     read_clock=lambda: ClockReading(True, "test"))
    agenda = Agenda(schedule_policy(config, contract), None, random.Random(1).random)
    agent = Agent(config, contract, agenda, deps, probe_id="first-run",
                  directions=("download", "upload"), expected_bytes=0)

    asyncio.run(agent.run(runs=runs))
    return offsets


def test_runs_n_starts_the_first_test_at_once(tmp_path: Path) -> None:
    # A fresh start on a one-hour schedule would wait 18-180 s for its first test.
    assert _run(tmp_path, runs=1)[0] < 5.0


def test_the_tests_after_the_first_follow_the_schedule(tmp_path: Path) -> None:
    offsets = _run(tmp_path, runs=2)
    assert len(offsets) == 1  # the second is planned an hour on; the agent was stopped first
    with SqliteStore.open(tmp_path / "probe.db") as store:
        state = store.get_state("agent")
    assert state is not None
    assert state["tests_run"] == 1
    gap = datetime.fromisoformat(str(state["next_test_at"])) - datetime.now(UTC)
    assert gap > timedelta(minutes=30)
