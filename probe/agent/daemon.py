"""The agent's asyncio loop: plan → clock → gate → measure → check → store → (retest on another
server) → alert → forward, one test at a time, sleeping (no timers, no polling) until the next
one is due.

Wiring only; every decision is a sans-I/O module's (agenda, campaign, schedule, clock, and the
gate and alert state of probe.agent.gating / probe.agent.alertstate). I/O lives beside it:

- the store belongs to one worker thread (:mod:`probe.agent.storethread`), which also runs the
  forwarder (:mod:`probe.agent.forwarding`: after each stored test, with backoff while the
  sink fails); the waits for a synchronised clock and a quiet line are
  :mod:`probe.agent.waiting`'s and :mod:`probe.agent.gatekeeper`'s;
- SIGTERM/SIGINT end the loop; a test in flight is cancelled before anything of it is written
  (a record is stored in one transaction after the test, or not at all);
- ``run(runs=N)`` (``probe agent --runs N``) starts its first test at once: it was asked for,
  not scheduled; the tests after it follow the schedule.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from probe.agent.agenda import Agenda, Slot, counts_as_valid
from probe.agent.config import AgentConfig, ServerConfig
from probe.agent.forwarding import InProcessForwarding
from probe.agent.keeping import keep_test, restore, state_row
from probe.agent.logjson import event
from probe.agent.measuring import Tester
from probe.agent.state import STATE_KEY, AgentState
from probe.agent.storethread import StoreThread
from probe.agent.waiting import Sleeper, wait_for_clock
from probe.errors import MeasurementError, ProbeError

if TYPE_CHECKING:
    from probe.agent.alerting import Alerting
    from probe.agent.clock import Reading
    from probe.agent.gating import GatingPolicy
    from probe.agent.metrics import AgentMetrics
    from probe.compliance.contract import Contract
    from probe.compliance.verdict import TestVerdict
    from probe.hostfacts.counters import CounterReader
    from probe.measurement import Measurement
    from probe.sinks.forwarder import Forwarder
    from probe.store import AgentEvent, SqliteStore

def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class AgentDeps:
    """The adapters the loop talks to; tests and the lab inject their own."""

    measure: Callable[[ServerConfig], Awaitable[Measurement]]
    open_store: Callable[[], SqliteStore]
    make_forwarder: Callable[[SqliteStore], Forwarder | None]
    read_clock: Callable[[], Reading]
    now: Callable[[], datetime] = _utc_now
    rand: Callable[[], float] = random.random
    # The WAN interface counters for gating (None: gating off).
    counter_reader: CounterReader | None = None
    gating: GatingPolicy | None = None


class Agent:
    """One agent process: ``await Agent(...).run(runs=N)``."""

    def __init__(self, config: AgentConfig, contract: Contract, agenda: Agenda,
                 deps: AgentDeps, *, probe_id: str, directions: tuple[str, ...],
                 expected_bytes: int, metrics: AgentMetrics | None = None,
                 alerting: Alerting | None = None) -> None:
        self.config, self.contract, self.agenda, self.deps = config, contract, agenda, deps
        self.probe_id, self.directions = probe_id, directions
        self.expected_bytes = expected_bytes
        self.metrics = metrics
        self.alerting = alerting
        self.state = AgentState()
        self.valid: list[datetime] = []
        self.completed = 0
        self._stop = asyncio.Event()
        self._sleep = Sleeper(self._stop, deps.now)
        self._store = StoreThread()
        self._forwarding = InProcessForwarding(
            self._store, self._stop, probe_id=probe_id, now=deps.now, rand=deps.rand,
            metrics=metrics, counters=lambda: self.state)
        self._tester = Tester(config.servers, contract, deps.measure, self._stop,
                              counter_reader=deps.counter_reader, gating=deps.gating)
        self._next: Slot | None = None
        self._at_once = False

    # -- lifecycle ---------------------------------------------------------------------------

    async def run(self, runs: int | None = None) -> int:
        """Test until stopped (or until ``runs`` tests completed and the outbox is empty).

        With ``runs`` the first test starts at once (``probe agent --runs N``: a test asked
        for now); the ones after it follow the schedule."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.stop)
        self._at_once = runs is not None
        try:
            await self._open()
            if self.metrics is not None:
                await self.metrics.start()
            event("agent started", subscriber=self.contract.subscriber_id,
                  servers=[s.name for s in self.config.servers],
                  campaign=self._campaign_json(), tests_run=self.state.tests_run)
            await self._forwarding.forward()  # whatever an earlier run left queued
            while not self._stop.is_set():
                slot, self.state = self.agenda.plan(self.deps.now(), self.state, self.valid,
                                                    at_once=self._at_once)
                self._next = slot
                await self._save_state()
                self._publish(slot)
                event("next test", at=slot.at.isoformat(), kind=slot.kind)
                if not await self._sleep.until(slot.at):
                    break
                await self._attempt(slot)
                if runs is not None and self.completed >= runs:
                    await self._forwarding.drain_before_exit()
                    break
        finally:
            await self._close()
        event("agent stopped", tests_run=self.state.tests_run, completed=self.completed)
        return 0

    def stop(self) -> None:
        self._stop.set()

    async def _open(self) -> None:
        await self._store.open(self.deps.open_store)
        await self._forwarding.open(self.deps.make_forwarder)
        saved, self.valid = await restore(self._store, self.contract, self.directions,
                                          now=self.deps.now(), alerting=self.alerting)
        if saved is not None:
            self.state = saved

    async def _close(self) -> None:
        if self.metrics is not None:
            await self.metrics.stop()
        await self._forwarding.cancel()
        await self._store.close(self._forwarding.forwarder)

    # -- one test ----------------------------------------------------------------------------

    async def _attempt(self, slot: Slot) -> None:
        # An asked-for first test is at once only until it was tried: a skip or a failure
        # moves the plan on as usual.
        at_once, self._at_once = self._at_once, False
        now = self.deps.now()
        admitted, self.state = self.agenda.admit(self.state, slot, now, self.expected_bytes)
        if not admitted:
            event("test skipped", reason=self.state.last_skip_reason, kind=slot.kind)
            return await self._save_state()
        ok, clock_flag = await wait_for_clock(self.deps.read_clock, self.config.clock,
                                              self._sleep, slot.kind)
        if not ok:
            self._at_once = at_once  # planned again on a synchronised clock: still asked for
            return None
        if not await self._gate(slot):
            return None
        server = self._tester.pick_server()
        measurement = await self._measure(server, clock_flag)
        if measurement is None:
            return None
        verdict = self._tester.check(measurement)
        await self._store_test(slot, measurement, verdict, bool(clock_flag))
        self.completed += 1
        await self._confirm_and_alert(slot, server, measurement, verdict, clock_flag)
        await self._forwarding.forward()
        _return_free_memory()
        return None

    async def _confirm_and_alert(self, slot: Slot, server: ServerConfig, measurement: Measurement,
                                 verdict: TestVerdict | None, clock_flag: str | None) -> None:
        """The alert state decides on a retest elsewhere and on alerts; send and keep them."""
        if self.alerting is None or verdict is None:
            return
        step = self.alerting.observe(measurement, verdict)
        alerts = list(step.alerts)
        notes = [step.note] if step.note else []
        if step.retest is not None and self.config.alerts.retest \
                and len({s.url for s in self.config.servers}) > 1:
            other = self._tester.pick_server(exclude=server)
            event("retest", server=other.name, reason=step.retest.reason)
            again = await self._measure(other, clock_flag)
            if again is not None:
                second = self._tester.check(again)
                await self._store_test(Slot(again.started_at, slot.kind), again, second,
                                       bool(clock_flag))
                if second is not None:
                    retest_step = self.alerting.observe(again, second)
                    alerts += retest_step.alerts
                    notes += [retest_step.note] if retest_step.note else []
        await self.alerting.deliver(alerts, notes, self._store, at=self.deps.now(),
                                    probe_id=self.probe_id,
                                    subscriber_id=self.contract.subscriber_id)
        await self._forwarding.write_alert_points(alerts)

    async def _gate(self, slot: Slot) -> bool:
        """Wait until the line and CPU are quiet (probe.agent.gating decides); False: skipped
        or stopped. Each deferral and the skip are stored as agent events."""
        reader, policy = self.deps.counter_reader, self.deps.gating
        if reader is None or policy is None:
            return True
        from probe.agent.gatekeeper import wait_for_quiet

        decision = await wait_for_quiet(
            reader, policy, self._sleep, keep=self._keep_event, now=self.deps.now,
            probe_id=self.probe_id, subscriber_id=self.contract.subscriber_id,
            on_deferred=self._count_deferral)
        if decision is None:
            return False
        if decision.action == "go":
            return True
        self.state = self.agenda.skipped(self.state, slot, self.deps.now(), decision.reason)
        event("test skipped", level=logging.WARNING, reason=decision.reason,
              cross_traffic_kbps=decision.cross_traffic_kbps, kind=slot.kind)
        if self.metrics is not None:
            self.metrics.counted("skipped")
        await self._save_state()
        return False

    def _count_deferral(self) -> None:
        self.state = replace(self.state, tests_deferred=self.state.tests_deferred + 1)
        if self.metrics is not None:
            self.metrics.counted("deferred")

    async def _keep_event(self, one: AgentEvent) -> None:
        await self._store.call(functools.partial(self._store.db().save_event, one))

    async def _measure(self, server: ServerConfig,
                       flag: str | None = None) -> Measurement | None:
        """One test; None when it failed (rescheduled) or the agent was stopped meanwhile."""
        try:
            return await self._tester.run(server, flag)
        except (ProbeError, OSError) as exc:
            self.state = self.agenda.failed(self.state, self.deps.now())
            kind = "unreachable" if isinstance(exc, MeasurementError) else "error"
            event("test failed", level=logging.WARNING, server=server.name, error=str(exc),
                  kind=kind, retry_at=_iso(self.state.not_before))
            if self.metrics is not None:
                self.metrics.failed(server.name)
            await self._save_state()
            return None

    async def _store_test(self, slot: Slot, m: Measurement, checked: TestVerdict | None,
                          unsynchronised: bool) -> None:
        verdict = None if checked is None else checked.verdict
        transferred = sum(r.transferred_bytes for r in (m.download, m.upload) if r is not None)
        self.state = self.agenda.completed(self.state, slot, m, transferred,
                                           unsynchronised=unsynchronised)
        await keep_test(self._store, m, contract=self.contract, probe_id=self.probe_id,
                        verdict=verdict, state=self._state_json())
        if counts_as_valid(m, self.directions):
            self.valid.append(m.started_at)
        event("test stored", id=m.id, kind=slot.kind, server=m.server,
              download_mbps=m.download_mbps, upload_mbps=m.upload_mbps,
              latency_ms=m.latency_ms, verdict=verdict, flags=list(m.flags),
              campaign=self._campaign_json())
        if self.metrics is not None:
            self.metrics.tested(m, verdict)

    # -- state -------------------------------------------------------------------------------

    async def _save_state(self) -> None:
        await self._store.put_state(STATE_KEY, self._state_json())

    def _state_json(self) -> dict[str, object]:
        return state_row(self.state, campaign=self._campaign_json(), next_slot=self._next,
                         probe_id=self.probe_id, subscriber_id=self.contract.subscriber_id)

    def _campaign_json(self) -> dict[str, object] | None:
        status = self.agenda.campaign_status(self.valid)
        return None if status is None else status.to_json_dict()

    def _publish(self, slot: Slot) -> None:
        if self.metrics is not None:
            self.metrics.planned(slot, self.state, self.agenda.campaign_status(self.valid))


def _return_free_memory() -> None:
    """Give the heap the test freed back to the system (glibc keeps it otherwise: a few MB
    of a router's RAM for hours). A no-op where there is no malloc_trim (musl, OpenWrt)."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)  # the process's own symbols: libc, no library search


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()
