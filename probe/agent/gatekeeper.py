"""Gating wired to the host: sample the counters over the window, decide, wait, record.

The decisions are :mod:`probe.agent.gating`'s; this module only reads counters (through
:class:`probe.hostfacts.counters.CounterReader`), sleeps, and writes each deferral or skip to
the store as an agent event with the rates seen, so ``probe status`` and the evidence show why
a scheduled test did not run when planned.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from probe.agent.gating import Deferral, GateDecision, GatingPolicy, annotate, decide
from probe.hostfacts.counters import CounterReader
from probe.measurement import Measurement
from probe.store import AgentEvent, ResultStore

SAMPLES_PER_WINDOW = 5

Sleep = Callable[[float], Awaitable[object]]


async def look(reader: CounterReader, policy: GatingPolicy, deferral: Deferral | None = None,
               *, sleep: Sleep = asyncio.sleep) -> GateDecision:
    """Read counters (and CPU) across one window and decide about the scheduled test."""
    cpu_before = reader.cpu()
    samples = [reader.counters()]
    for _ in range(SAMPLES_PER_WINDOW):
        await sleep(policy.window_s / SAMPLES_PER_WINDOW)
        samples.append(reader.counters())
    cpu_after = reader.cpu()
    cpu = None if cpu_before is None or cpu_after is None else (cpu_before, cpu_after)
    return decide(samples, cpu, policy, deferral or Deferral(), samples[-1].t_s)


def event_of(decision: GateDecision, *, probe_id: str, subscriber_id: str | None,
             at: datetime) -> AgentEvent:
    kind = "skipped" if decision.action == "skip" else "deferred"
    return AgentEvent(at=at, kind=kind, probe_id=probe_id, subscriber_id=subscriber_id,
                      detail=decision.to_json_dict())


async def wait_until_quiet(
    reader: CounterReader, policy: GatingPolicy, store: ResultStore | None, *,
    probe_id: str, subscriber_id: str | None = None, sleep: Sleep = asyncio.sleep,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    on_decision: Callable[[GateDecision], None] | None = None,
) -> GateDecision:
    """Look, back off while the line or CPU is busy; returns the final go or skip decision.

    Every deferral and the skip are saved to ``store`` (when given) before waiting.
    """
    deferral = Deferral()
    while True:
        decision = await look(reader, policy, deferral, sleep=sleep)
        if on_decision is not None:
            on_decision(decision)
        if decision.action == "go":
            return decision
        if store is not None:
            store.save_event(event_of(decision, probe_id=probe_id, subscriber_id=subscriber_id,
                                      at=now()))
        if decision.action == "skip" or decision.retry_in_s is None:
            return decision
        await sleep(decision.retry_in_s)
        deferral = decision.deferral


async def measure_watched(reader: CounterReader, policy: GatingPolicy,
                          run: Callable[[], Awaitable[Measurement]]) -> Measurement:
    """Run one test with the counters read around it; the record carries the cross-traffic."""
    before = reader.counters()
    measurement = await run()
    return annotate(measurement, before, reader.counters(), policy)
