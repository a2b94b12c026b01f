"""Gating wired to the host: sample the counters over the window, read them around a test.

The decisions are :mod:`probe.agent.gating`'s; this module only reads counters (through
:class:`probe.hostfacts.counters.CounterReader`) and sleeps. The gate loop
(:func:`wait_for_quiet`) has each deferral or skip stored as an agent event (:func:`event_of`)
with the rates seen, so ``probe status`` and the evidence show why a scheduled test did not
run when planned.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime

from probe.agent.gating import Deferral, GateDecision, GatingPolicy, annotate, decide
from probe.agent.logjson import event
from probe.agent.waiting import Sleeper
from probe.hostfacts.counters import CounterReader
from probe.measurement import Measurement
from probe.store import AgentEvent

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


async def measure_watched(reader: CounterReader, policy: GatingPolicy,
                          run: Callable[[], Awaitable[Measurement]]) -> Measurement:
    """Run one test with the counters read around it; the record carries the cross-traffic."""
    before = reader.counters()
    measurement = await run()
    return annotate(measurement, before, reader.counters(), policy)


async def wait_for_quiet(reader: CounterReader, policy: GatingPolicy, sleep: Sleeper, *,
                         keep: Callable[[AgentEvent], Awaitable[None]],
                         now: Callable[[], datetime], probe_id: str,
                         subscriber_id: str | None,
                         on_deferred: Callable[[], None]) -> GateDecision | None:
    """Wait until the line and CPU are quiet: the decision that ended the wait (``go``, or
    ``skip`` when deferred too long), None when the agent was stopped. Each deferral and the
    skip are kept (``keep``) as agent events; ``on_deferred`` counts a deferral."""
    deferral = Deferral()
    while True:
        decision = await look(reader, policy, deferral, sleep=sleep.seconds)
        if sleep.stop.is_set():
            return None
        if decision.action == "go":
            return decision
        await keep(event_of(decision, probe_id=probe_id, subscriber_id=subscriber_id,
                            at=now()))
        if decision.action == "skip" or decision.retry_in_s is None:
            return decision
        on_deferred()
        event("test deferred", reason=decision.reason,
              cross_traffic_kbps=decision.cross_traffic_kbps, cpu_load=decision.cpu_load,
              retry_in_s=decision.retry_in_s)
        if not await sleep.seconds(decision.retry_in_s):
            return None
        deferral = decision.deferral
