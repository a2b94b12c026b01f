"""The agent's asyncio loop: plan → clock → gate → measure → check → store → (retest on another
server) → alert → forward, one test at a time, sleeping (no timers, no polling) until the next
one is due.

Wiring only; every decision is a sans-I/O module's (agenda, campaign, schedule, clock, and the
gate and alert state of probe.agent.gating / probe.agent.alertstate). I/O:

- the store belongs to one worker thread (``probe-store``), which also runs the forwarder: a
  save never blocks the event loop on fsync, and sqlite3 objects never cross threads;
- forwarding runs after each stored test and, while the sink fails, again after the forwarder's
  backoff; with no ``[sink]`` the outbox simply stays (``probe forward`` can drain it later);
- SIGTERM/SIGINT end the loop; a test in flight is cancelled before anything of it is written
  (a record is stored in one transaction after the test, or not at all).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import signal
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from probe.agent.agenda import Agenda, Slot, counts_as_valid, valid_starts
from probe.agent.clock import decide_clock
from probe.agent.config import AgentConfig, ServerConfig
from probe.agent.state import STATE_KEY, AgentState
from probe.compliance.labels import fleet_labels
from probe.errors import MeasurementError, ProbeError

if TYPE_CHECKING:
    from probe.agent.alerting import Alerting
    from probe.agent.clock import Reading
    from probe.agent.gating import GateDecision, GatingPolicy
    from probe.agent.metrics import AgentMetrics
    from probe.compliance.contract import Contract
    from probe.compliance.verdict import TestVerdict
    from probe.hostfacts.counters import CounterReader
    from probe.measurement import Measurement
    from probe.sinks.forwarder import Forwarder
    from probe.store import SqliteStore

log = logging.getLogger("probe.agent")
T = TypeVar("T")

# Campaign progress is recomputed from the measurements of this many recent days at start.
HISTORY_DAYS = 45
FORWARD_BACKOFF_INITIAL_S = 5.0
FORWARD_BACKOFF_MAX_S = 300.0


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
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="probe-store")
        self._store: SqliteStore | None = None
        self._forwarder: Forwarder | None = None
        self._stop = asyncio.Event()
        self._server_turn = 0
        self._forward_task: asyncio.Task[None] | None = None
        self._forward_failures = 0
        self._next: Slot | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def run(self, runs: int | None = None) -> int:
        """Test until stopped (or until ``runs`` tests completed and the outbox is empty)."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.stop)
        try:
            await self._open()
            if self.metrics is not None:
                await self.metrics.start()
            self._event("agent started", subscriber=self.contract.subscriber_id,
                        servers=[s.name for s in self.config.servers],
                        campaign=self._campaign_json(), tests_run=self.state.tests_run)
            await self._forward()  # whatever an earlier run left queued
            while not self._stop.is_set():
                slot, self.state = self.agenda.plan(self.deps.now(), self.state, self.valid)
                self._next = slot
                await self._save_state()
                self._publish(slot)
                self._event("next test", at=slot.at.isoformat(), kind=slot.kind)
                if not await self._sleep_until(slot.at):
                    break
                await self._attempt(slot)
                if runs is not None and self.completed >= runs:
                    await self._drain_before_exit()
                    break
        finally:
            await self._close()
        self._event("agent stopped", tests_run=self.state.tests_run, completed=self.completed)
        return 0

    def stop(self) -> None:
        self._stop.set()

    async def _open(self) -> None:
        self._store = await self._io_call(self.deps.open_store)
        self._forwarder = await self._io_call(lambda: self.deps.make_forwarder(self._db()))
        saved = await self._io_call(lambda: self._db().get_state(STATE_KEY))
        if saved:
            self.state = AgentState.from_json_dict(saved)
        if self.alerting is not None:
            from probe.agent.alerting import ALERTS_KEY
            from probe.agent.alertstate import AlertState

            alerts = await self._io_call(lambda: self._db().get_state(ALERTS_KEY))
            if alerts:
                self.alerting.state = AlertState.from_json_dict(alerts)
        since = self.deps.now() - timedelta(days=HISTORY_DAYS)
        start = self.contract.start_utc()
        rows = await self._io_call(lambda: self._db().history(
            max(since, start) if start else since))
        self.valid = valid_starts(rows, self.contract.subscriber_id, self.directions)

    async def _close(self) -> None:
        if self.metrics is not None:
            await self.metrics.stop()
        if self._forward_task is not None:
            self._forward_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._forward_task
        store, forwarder = self._store, self._forwarder
        if store is not None:
            await self._io_call(lambda: _close_all(store, forwarder))
        self._io.shutdown(wait=True)

    # -- one test ----------------------------------------------------------------------------

    async def _attempt(self, slot: Slot) -> None:
        now = self.deps.now()
        admitted, self.state = self.agenda.admit(self.state, slot, now, self.expected_bytes)
        if not admitted:
            self._event("test skipped", reason=self.state.last_skip_reason, kind=slot.kind)
            return await self._save_state()
        ok, clock_flag = await self._clock_gate(slot)
        if not ok:
            return None
        if not await self._gate(slot):
            return None
        server = self._pick_server()
        measurement = await self._measure(server, clock_flag)
        if measurement is None:
            return None
        verdict = self._check(measurement)
        await self._store_test(slot, measurement, verdict, bool(clock_flag))
        self.completed += 1
        await self._confirm_and_alert(slot, server, measurement, verdict, clock_flag)
        await self._forward()
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
            other = self._pick_server(exclude=server)
            self._event("retest", server=other.name, reason=step.retest.reason)
            again = await self._measure(other, clock_flag)
            if again is not None:
                second = self._check(again)
                await self._store_test(Slot(again.started_at, slot.kind), again, second,
                                       bool(clock_flag))
                if second is not None:
                    retest_step = self.alerting.observe(again, second)
                    alerts += retest_step.alerts
                    notes += [retest_step.note] if retest_step.note else []
        for note in notes:
            self._event("confirmation", detail=note)
        errors = await self.alerting.send(alerts)
        for error in errors:
            self._event("alert not sent", level=logging.WARNING, error=error)
        await self._keep_alerts(alerts)

    async def _keep_alerts(self, alerts: list[Any]) -> None:
        from probe.agent.alerting import ALERTS_KEY
        from probe.store import AgentEvent

        assert self.alerting is not None
        state_json = self.alerting.state.to_json_dict()
        events = [AgentEvent(at=self.deps.now(), kind="alert", probe_id=self.probe_id,
                             subscriber_id=self.contract.subscriber_id,
                             detail=a.to_json_dict()) for a in alerts]

        def keep() -> None:
            store = self._db()
            for event in events:
                store.save_event(event)
            store.put_state(ALERTS_KEY, state_json)

        await self._io_call(keep)
        for alert in alerts:
            self._event("alert", status=alert.status, criterion=alert.criterion,
                        subscriber=alert.subscriber)
        if alerts and self._forwarder is not None:
            await self._write_alert_points(alerts)

    async def _write_alert_points(self, alerts: list[Any]) -> None:
        """Alert transitions also go to the sink (``broadband_alert``), written at once: the
        store keeps them as events, so a sink that is down loses nothing the agent knew."""
        from probe.sinks.fleetpoints import encode_alert

        assert self._forwarder is not None
        writer = self._forwarder.writer
        lines = [encode_alert(a) for a in alerts]
        failure = await self._io_call(lambda: writer.write(lines))
        if failure is not None:
            self._event("alert not forwarded", level=logging.WARNING, error=failure.message)

    async def _gate(self, slot: Slot) -> bool:
        """Wait until the line and CPU are quiet (probe.agent.gating decides); False: skipped
        or stopped. Each deferral and the skip are stored as agent events."""
        reader, policy = self.deps.counter_reader, self.deps.gating
        if reader is None or policy is None:
            return True
        from probe.agent.gatekeeper import event_of, look
        from probe.agent.gating import Deferral

        deferral = Deferral()
        while True:
            decision: GateDecision = await look(reader, policy, deferral,
                                                sleep=self._sleep_for)
            if self._stop.is_set():
                return False
            if decision.action == "go":
                return True
            event = event_of(decision, probe_id=self.probe_id,
                             subscriber_id=self.contract.subscriber_id, at=self.deps.now())
            await self._io_call(functools.partial(self._db().save_event, event))
            if decision.action == "skip" or decision.retry_in_s is None:
                self.state = self.agenda.skipped(self.state, slot, self.deps.now(),
                                                 decision.reason)
                self._event("test skipped", level=logging.WARNING, reason=decision.reason,
                            cross_traffic_kbps=decision.cross_traffic_kbps, kind=slot.kind)
                if self.metrics is not None:
                    self.metrics.counted("skipped")
                await self._save_state()
                return False
            self.state = replace(self.state, tests_deferred=self.state.tests_deferred + 1)
            self._event("test deferred", reason=decision.reason,
                        cross_traffic_kbps=decision.cross_traffic_kbps,
                        cpu_load=decision.cpu_load, retry_in_s=decision.retry_in_s)
            if self.metrics is not None:
                self.metrics.counted("deferred")
            if not await self._sleep_for(decision.retry_in_s):
                return False
            deferral = decision.deferral

    async def _clock_gate(self, slot: Slot) -> tuple[bool, str | None]:
        """Wait for a synchronised clock (re-reading), unless the config says test anyway.

        False also when the clock has just become synchronised: the slot was planned on a
        clock that may have been days off (a Pi after boot), so the loop plans again."""
        waited = 0.0
        while True:
            reading = self.deps.read_clock()
            decision = decide_clock(reading, self.config.clock, waited)
            if decision.proceed:
                if decision.flag:
                    self._event("clock not synchronised", level=logging.WARNING,
                                detail=decision.reason)
                elif waited > 0:
                    self._event("clock synchronised", detail="planning again", kind=slot.kind)
                    return False, None
                return True, decision.flag
            if waited == 0:
                self._event("waiting for clock", level=logging.WARNING, detail=decision.reason)
            if not await self._sleep_for(decision.wait_s):
                return False, None
            waited += decision.wait_s

    async def _measure(self, server: ServerConfig,
                       flag: str | None = None) -> Measurement | None:
        """One test; None when it failed (rescheduled) or the agent was stopped meanwhile."""
        reader, policy = self.deps.counter_reader, self.deps.gating
        if reader is not None and policy is not None:
            from probe.agent.gatekeeper import measure_watched

            # The counters are read around the test: cross-traffic during it goes on the record.
            run: Awaitable[Measurement] = measure_watched(
                reader, policy, lambda: self.deps.measure(server))
        else:
            run = self.deps.measure(server)
        task: asyncio.Future[Measurement] = asyncio.ensure_future(run)
        stopper: asyncio.Future[Any] = asyncio.ensure_future(self._stop.wait())
        waiting: set[asyncio.Future[Any]] = {task, stopper}
        try:
            done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
        if task not in done:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            self._event("test interrupted", server=server.name)
            return None
        try:
            measurement = task.result()
            if flag:
                measurement = replace(measurement, flags=(*measurement.flags, flag))
            return measurement
        except (ProbeError, OSError) as exc:
            self.state = self.agenda.failed(self.state, self.deps.now())
            kind = "unreachable" if isinstance(exc, MeasurementError) else "error"
            self._event("test failed", level=logging.WARNING, server=server.name, error=str(exc),
                        kind=kind, retry_at=_iso(self.state.not_before))
            if self.metrics is not None:
                self.metrics.failed(server.name)
            await self._save_state()
            return None

    def _check(self, measurement: Measurement) -> TestVerdict | None:
        from probe.compliance.check import check_measurement

        try:
            return check_measurement(self.contract, measurement)
        except ProbeError as exc:
            self._event("check failed", level=logging.WARNING, error=str(exc))
            return None

    async def _store_test(self, slot: Slot, m: Measurement, checked: TestVerdict | None,
                          unsynchronised: bool) -> None:
        verdict = None if checked is None else checked.verdict
        transferred = sum(r.transferred_bytes for r in (m.download, m.upload) if r is not None)
        self.state = self.agenda.completed(self.state, slot, m, transferred,
                                           unsynchronised=unsynchronised)
        state_json = self._state_json()

        # The fleet data model's plan/region/technology/period tags and contracted rates
        # (docs/data-model.md), fixed now so a point forwarded later says the same.
        fleet = None if checked is None else fleet_labels(self.contract, m.started_at)

        def save() -> None:
            store = self._db()
            store.save(m, probe_id=self.probe_id, subscriber_id=self.contract.subscriber_id,
                       contract_ref=self.contract.plan.id, verdict=verdict,
                       fleet=None if fleet is None else fleet.to_json_dict())
            store.put_state(STATE_KEY, state_json)

        # Shielded: a SIGTERM arriving now must not leave the commit half-way (it cannot in
        # SQLite, but the state row should follow its measurement).
        await asyncio.shield(self._io_call(save))
        if counts_as_valid(m, self.directions):
            self.valid.append(m.started_at)
        self._event("test stored", id=m.id, kind=slot.kind, server=m.server,
                    download_mbps=m.download_mbps, upload_mbps=m.upload_mbps,
                    latency_ms=m.latency_ms, verdict=verdict, flags=list(m.flags),
                    campaign=self._campaign_json())
        if self.metrics is not None:
            self.metrics.tested(m, verdict)

    def _pick_server(self, exclude: ServerConfig | None = None) -> ServerConfig:
        """Servers in turn, so on-net and off-net both get tested; never ``exclude``'s URL."""
        servers = [s for s in self.config.servers if exclude is None or s.url != exclude.url]
        servers = servers or list(self.config.servers)
        server = servers[self._server_turn % len(servers)]
        self._server_turn += 1
        return server

    # -- forwarding --------------------------------------------------------------------------

    async def _forward(self) -> None:
        """One forwarder pass in the store thread; on failure, retry later with backoff."""
        if self._forwarder is None or self._forward_task is not None:
            await self._publish_backlog()
            return
        forwarder = self._forwarder
        await self._write_status_point()
        report = await self._io_call(forwarder.drain)
        await self._publish_backlog()
        if report.failure is None:
            self._forward_failures = 0
            if report.delivered:
                self._event("forwarded", delivered=report.delivered)
            return
        self._forward_failures += 1
        from probe.sinks.forwarder import backoff_delay_s

        delay = backoff_delay_s(self._forward_failures, forwarder.policy, self.deps.rand)
        self._event("forward failed", level=logging.WARNING, error=report.failure.message,
                    retry_in_s=round(delay, 1))
        self._forward_task = asyncio.ensure_future(self._forward_later(delay))

    async def _write_status_point(self) -> None:
        """The probe's own state (``broadband_probe``: backlog about to be sent, test counters)
        ahead of each forwarder pass, for the fleet's probe-health dashboard. Best effort:
        a sink that is down refuses it like the pass that follows."""
        from probe.sinks.fleetpoints import ProbeStatus, encode_probe_status

        assert self._forwarder is not None
        writer = self._forwarder.writer
        status = await self._io_call(lambda: self._db().status())
        point = encode_probe_status(ProbeStatus(
            self.probe_id, self.deps.now(), outbox_backlog=status.backlog,
            outbox_quarantined=status.quarantined, tests_completed=self.state.tests_run,
            tests_deferred=self.state.tests_deferred, tests_skipped=self.state.tests_skipped))
        failure = await self._io_call(lambda: writer.write([point]))
        if failure is not None:
            self._event("status not forwarded", level=logging.DEBUG, error=failure.message)

    async def _publish_backlog(self) -> None:
        if self.metrics is not None:
            self.metrics.backlog(await self._io_call(lambda: self._db().status().backlog))

    async def _forward_later(self, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        self._forward_task = None
        await self._forward()

    async def _drain_before_exit(self) -> None:
        """``--runs N``: wait until the outbox is empty (or the agent is stopped)."""
        if self._forwarder is None:
            return
        while not self._stop.is_set():
            backlog = await self._io_call(lambda: self._db().status().backlog)
            if backlog == 0:
                return
            if self._forward_task is None:
                await self._forward()
                continue
            task = self._forward_task
            stopper = asyncio.ensure_future(self._stop.wait())
            await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()

    # -- helpers -----------------------------------------------------------------------------

    def _db(self) -> SqliteStore:
        assert self._store is not None
        return self._store

    async def _io_call(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._io, fn)

    async def _save_state(self) -> None:
        state_json = self._state_json()
        await self._io_call(lambda: self._db().put_state(STATE_KEY, state_json))

    def _state_json(self) -> dict[str, object]:
        """The state plus what `probe status` shows beside it (campaign, next test)."""
        return {**self.state.to_json_dict(), "campaign": self._campaign_json(),
                "next_test_at": None if self._next is None else self._next.at.isoformat(),
                "next_test_kind": None if self._next is None else self._next.kind,
                "probe_id": self.probe_id, "subscriber_id": self.contract.subscriber_id}

    async def _sleep_until(self, at: datetime) -> bool:
        return await self._sleep_for((at - self.deps.now()).total_seconds())

    async def _sleep_for(self, seconds: float) -> bool:
        """Sleep (one timer, no polling); False when the agent was stopped meanwhile."""
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=seconds)
        return not self._stop.is_set()

    def _campaign_json(self) -> dict[str, object] | None:
        status = self.agenda.campaign_status(self.valid)
        return None if status is None else status.to_json_dict()

    def _publish(self, slot: Slot) -> None:
        if self.metrics is not None:
            self.metrics.planned(slot, self.state, self.agenda.campaign_status(self.valid))

    def _event(self, message: str, *, level: int = logging.INFO, **fields: Any) -> None:
        log.log(level, message, extra={"fields": fields})


def _return_free_memory() -> None:
    """Give the heap the test freed back to the system (glibc keeps it otherwise: a few MB
    of a router's RAM for hours). A no-op where there is no malloc_trim (musl, OpenWrt)."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)  # the process's own symbols: libc, no library search


def _close_all(store: SqliteStore, forwarder: Forwarder | None) -> None:
    if forwarder is not None:
        close = getattr(forwarder.writer, "close", None)
        if close is not None:
            close()
    store.close()


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()
