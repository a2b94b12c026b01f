"""A simulated agent: the real Agenda, store and state, a fake clock, random deferrals, failures
and a restart — so weeks of scheduling run in seconds and end in a real store `probe evaluate`
can judge (via `probe export`)."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from probe.agent.agenda import Agenda, valid_starts
from probe.agent.config import AgentConfig, ScheduleConfig, ServerConfig
from probe.agent.state import STATE_KEY, AgentState
from probe.agent.wiring import campaign_for, judged_directions, schedule_policy
from probe.cli.contract_files import load_contracts
from probe.compliance.contract import Contract
from probe.measurement import DirectionResult, LatencyResult, Measurement, Sample
from probe.store import SqliteStore
from tests.support import ROOT

TEST_LENGTH_S = 25.0
GATE_WINDOW_S = 5.0


def load_contract(name: str) -> Contract:
    return next(iter(load_contracts(ROOT / "contracts" / name).contracts.values()))


def config_for(schedule: ScheduleConfig | None = None) -> AgentConfig:
    servers = (ServerConfig("http://198.18.0.1:8080", "a", "on-net"),
               ServerConfig("http://198.18.1.1:8080", "b", "off-net"))
    return AgentConfig(None, "c.toml", None, servers, schedule=schedule or ScheduleConfig())


def measurement(started_at: datetime, down_mbps: float, up_mbps: float,
                flags: tuple[str, ...] = ()) -> Measurement:
    def direction(rate: float) -> DirectionResult:
        total = int(rate * 1e6 / 8 * 8)
        return DirectionResult(rate, total, 2.0, 10.0, (Sample(10.0, total),), "client")

    return Measurement(
        id=str(uuid.uuid4()), started_at=started_at, server="http://198.18.0.1:8080",
        streams=4, duration_s=10.0,
        latency=LatencyResult((12.0,), 12.0, 12.0, 0.0),
        download=direction(down_mbps), upload=direction(up_mbps), flags=flags,
    )


@dataclass
class SimResult:
    stored: list[Measurement] = field(default_factory=list)
    deferred: int = 0
    failed: int = 0
    restarts: int = 0
    state: AgentState = field(default_factory=AgentState)


def simulate(  # noqa: PLR0915 (one loop that reads as the daemon's, kept in one piece)
    contract: Contract, config: AgentConfig, db: Path, *, start: datetime, days: int,
    seed: int, rates: tuple[float, float], restart_after_days: float,
    defer_p: float = 0.15, fail_p: float = 0.05, flag_p: float = 0.03,
) -> SimResult:
    """Run the agent's agenda over ``days`` of simulated time; returns what happened."""
    rng = random.Random(seed)
    directions = judged_directions(contract)
    result = SimResult()
    end = start + timedelta(days=days)
    restart_at = start + timedelta(days=restart_after_days)

    def boot(store: SqliteStore) -> tuple[Agenda, AgentState, list[datetime]]:
        # What the daemon does at start: state from the store, progress from its records.
        agenda = Agenda(schedule_policy(config, contract),
                        campaign_for(config, contract, contract.zone), rng.random)
        saved = store.get_state(STATE_KEY)
        state = AgentState.from_json_dict(saved) if saved else AgentState()
        return agenda, state, valid_starts(store.history(), contract.subscriber_id, directions)

    now = start
    clock = [start]  # the store's clock follows the simulated time
    store = SqliteStore.open(db, clock=lambda: clock[0])
    agenda, state, valid = boot(store)
    try:
        while now < end:
            clock[0] = now
            if now >= restart_at and result.restarts == 0:
                store.put_state(STATE_KEY, state.to_json_dict())
                store.close()
                now += timedelta(hours=2)  # the router was off for two hours
                store = SqliteStore.open(db, clock=lambda: clock[0])
                agenda, state, valid = boot(store)
                result.restarts += 1
            slot, state = agenda.plan(now, state, valid)
            now = max(now, slot.at)
            if now >= end:
                break
            admitted, state = agenda.admit(state, slot, now, 10**8)
            if not admitted:
                continue
            draw = rng.random()
            if draw < defer_p:
                state = agenda.deferred(state, now, rng.uniform(60, 900))
                result.deferred += 1
                continue
            if draw < defer_p + fail_p:
                now += timedelta(seconds=10)
                state = agenda.failed(state, now)
                result.failed += 1
                continue
            flags = ("cross-traffic",) if rng.random() < flag_p else ()
            m = measurement(now + timedelta(seconds=GATE_WINDOW_S), rates[0] * rng.uniform(
                0.97, 1.0), rates[1] * rng.uniform(0.97, 1.0), flags)
            now = m.started_at + timedelta(seconds=TEST_LENGTH_S)
            store.save(m, probe_id="sim", subscriber_id=contract.subscriber_id,
                       contract_ref=contract.plan.id, verdict=None)
            state = agenda.completed(state, slot, m, 2 * 10**8)
            store.put_state(STATE_KEY, state.to_json_dict())
            if not flags:
                valid.append(m.started_at)
            result.stored.append(m)
    finally:
        store.close()
    result.state = state
    return result
