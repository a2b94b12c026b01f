"""The clock rule: no test on an unsynchronised clock unless configured, and then flagged."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from probe.agent.agenda import Agenda
from probe.agent.clock import UNSYNCHRONISED_FLAG, ClockReading, decide_clock
from probe.agent.config import ClockConfig, ScheduleConfig
from probe.agent.daemon import Agent, AgentDeps
from probe.agent.wiring import schedule_policy
from probe.hostfacts.clock import read_adjtimex, read_clock_sync, read_timesyncd
from probe.store import SqliteStore
from tests.agent.simulate import config_for, load_contract, measurement

SYNCED = ClockReading(True, "adjtimex")
UNSYNCED = ClockReading(False, "adjtimex", "TIME_ERROR")
UNKNOWN = ClockReading(None, "none")


@pytest.mark.parametrize(("reading", "config", "waited", "proceed", "flag"), [
    (SYNCED, ClockConfig(), 0, True, None),
    (UNKNOWN, ClockConfig(), 0, True, None),
    (UNSYNCED, ClockConfig(), 0, False, None),
    (UNSYNCED, ClockConfig(), 10**6, False, None),  # max_wait 0: waits for ever
    (UNSYNCED, ClockConfig(max_wait_s=600), 599, False, None),
    (UNSYNCED, ClockConfig(max_wait_s=600), 600, True, UNSYNCHRONISED_FLAG),
    (UNSYNCED, ClockConfig(require_sync=False), 0, True, UNSYNCHRONISED_FLAG),
    (SYNCED, ClockConfig(require_sync=False), 0, True, None),
])
def test_decision_table(reading: ClockReading, config: ClockConfig, waited: float,
                        proceed: bool, flag: str | None) -> None:
    decision = decide_clock(reading, config, waited)
    assert decision.proceed is proceed
    assert decision.flag == flag
    assert decision.reason
    if not proceed:
        assert decision.wait_s == config.recheck_s


def test_timesyncd_marker(tmp_path: Path) -> None:
    marker = tmp_path / "timesync" / "synchronized"
    assert read_timesyncd(marker).synchronised is None  # timesyncd not running
    marker.parent.mkdir()
    assert read_timesyncd(marker).synchronised is False
    marker.touch()
    assert read_timesyncd(marker).synchronised is True


def test_adjtimex_reads_the_kernel_state() -> None:
    reading = read_adjtimex()
    assert reading.source == "adjtimex"
    assert reading.synchronised in (True, False)  # this kernel answers; either state is real
    assert read_clock_sync("off").synchronised is True


class _Clock:
    def __init__(self, readings: list[ClockReading]) -> None:
        self.readings = readings
        self.reads = 0

    def __call__(self) -> ClockReading:
        self.reads += 1
        return self.readings[min(self.reads - 1, len(self.readings) - 1)]


def _agent(tmp_path: Path, clock: _Clock, clock_config: ClockConfig) -> Agent:
    contract = load_contract("de-cable-1000.toml")
    config = config_for(ScheduleConfig(interval_s=6.0, peak_interval_s=6.0, campaign="off"))
    config = type(config)(**{**{f: getattr(config, f) for f in config.__dataclass_fields__},
                             "clock": clock_config})

    async def fake_measure(_server: object) -> object:
        return measurement(datetime.now(UTC), 950.0, 48.0)

    deps = AgentDeps(measure=fake_measure,  # type: ignore[arg-type]
                     open_store=lambda: SqliteStore.open(tmp_path / "probe.db"),
                     make_forwarder=lambda _s: None, read_clock=clock)
    # run(runs=1): the first test is due at once (and again at once after the clock synced).
    agenda = Agenda(schedule_policy(config, contract), None, random.Random(1).random)
    return Agent(config, contract, agenda, deps, probe_id="clock-test",
                 directions=("download", "upload"), expected_bytes=0)


def _stored(tmp_path: Path) -> Iterator[tuple[str, ...]]:
    with SqliteStore.open(tmp_path / "probe.db") as store:
        for row in store.history():
            yield row.measurement.flags


def test_agent_waits_for_sync_then_plans_again_and_tests_unflagged(tmp_path: Path) -> None:
    clock = _Clock([UNSYNCED, UNSYNCED, SYNCED])
    agent = _agent(tmp_path, clock, ClockConfig(recheck_s=0.05))
    assert asyncio.run(agent.run(runs=1)) == 0
    # Two unsynchronised readings, the synchronised one (the slot is planned again: it was
    # planned on an untrusted clock), and the reading before the re-planned test.
    assert clock.reads == 4
    assert list(_stored(tmp_path)) == [()]


def test_agent_gives_up_waiting_and_flags_the_record(tmp_path: Path) -> None:
    clock = _Clock([UNSYNCED])
    agent = _agent(tmp_path, clock, ClockConfig(max_wait_s=0.2, recheck_s=0.05))
    asyncio.run(agent.run(runs=1))
    assert list(_stored(tmp_path)) == [(UNSYNCHRONISED_FLAG,)]
    assert agent.state.tests_unsynchronised == 1
