"""The daemon's confirmation path with injected adapters: a shortfall is retested on the other
server, fires once when confirmed, resolves once; a contradicted one never fires."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from probe.agent.agenda import Agenda
from probe.agent.alerting import Alerting
from probe.agent.clock import ClockReading
from probe.agent.config import ScheduleConfig, ServerConfig
from probe.agent.daemon import Agent, AgentDeps
from probe.agent.metrics import AgentMetrics
from probe.agent.wiring import schedule_policy
from probe.alerts import FakeAlertSender
from probe.measurement import Measurement
from probe.sinks.forwarder import Forwarder
from probe.store import SqliteStore
from tests.agent.simulate import config_for, load_contract, measurement

GOOD, BAD = (960.0, 49.0), (700.0, 49.0)  # de-cable-1000: normally 850, minimum 600


def run_agent(tmp_path: Path, rates: dict[str, list[tuple[float, float]]], runs: int,
              sender: FakeAlertSender, *, metrics: AgentMetrics | None = None,
              on_test: Callable[[], Awaitable[None]] | None = None,
              make_forwarder: Callable[[SqliteStore], Forwarder | None] = lambda _s: None,
              ) -> tuple[Agent, list[str]]:
    contract = load_contract("de-cable-1000.toml")
    config = config_for(ScheduleConfig(interval_s=6.0, peak_interval_s=6.0, campaign="off"))
    tested: list[str] = []

    async def fake_measure(server: ServerConfig) -> Measurement:
        tested.append(server.name)
        if on_test is not None:
            await on_test()
        down, up = rates[server.name].pop(0)
        m = measurement(datetime.now(UTC), down, up)
        from dataclasses import replace

        return replace(m, server=server.url)

    deps = AgentDeps(measure=fake_measure, open_store=lambda: SqliteStore.open(
        tmp_path / "probe.db"), make_forwarder=make_forwarder,
        read_clock=lambda: ClockReading(True, "test"))
    agenda = Agenda(schedule_policy(config, contract), None, random.Random(1).random)
    plan = agenda.plan

    # Every test due at once (run(runs=N) makes only the first so).
    def due_now(now, state, valid, **kw):  # type: ignore[no-untyped-def]
        slot, state = plan(now, state, valid, **kw)
        return type(slot)(min(slot.at, now), slot.kind), state

    agenda.plan = due_now  # type: ignore[method-assign]
    alerting = Alerting([sender], plan=contract.plan.id, probe="p")
    agent = Agent(config, contract, agenda, deps, probe_id="p",
                  directions=("download", "upload"), expected_bytes=0, alerting=alerting,
                  metrics=metrics)
    asyncio.run(agent.run(runs=runs))
    return agent, tested


def test_confirmed_shortfall_fires_once_then_resolves_once(tmp_path: Path) -> None:
    sender = FakeAlertSender()
    rates = {"a": [BAD, BAD], "b": [BAD, GOOD]}
    agent, tested = run_agent(tmp_path, rates, runs=3, sender=sender)
    # a bad -> retest on b bad: confirmed, fires; a bad: already firing, no retest spent;
    # b good: resolved.
    assert tested == ["a", "b", "a", "b"]
    # The fake sender is not an Alertmanager, so it gets transitions only: one of each.
    assert [a.status for a in sender.sent] == ["firing", "resolved"]
    assert {a.key for a in sender.sent} == {("DE-BE-000001", "download/b-normal")}
    with SqliteStore.open(tmp_path / "probe.db") as store:
        kinds = [e.detail["status"] for e in store.events("alert")]
        assert kinds == ["firing", "resolved"]
        assert store.get_state("alerts") is not None
    assert agent.alerting is not None
    assert agent.alerting.state.firing == ()


def test_retest_that_passes_sends_nothing(tmp_path: Path) -> None:
    sender = FakeAlertSender()
    rates = {"a": [BAD, GOOD], "b": [GOOD, GOOD]}
    _, tested = run_agent(tmp_path, rates, runs=2, sender=sender)
    assert tested[:2] == ["a", "b"]  # the retest went to the other server at once
    assert sender.sent == []
    with SqliteStore.open(tmp_path / "probe.db") as store:
        assert store.events("alert") == []
        assert store.status().measurements == 3  # two scheduled tests and the retest
