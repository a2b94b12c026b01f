"""The agent's in-process forwarding: outbox → sink after each test, backoff while it fails.

Forwarding runs after each stored test and, while the sink fails, again after the forwarder's
backoff; with no ``[sink]`` the outbox simply stays (``probe forward`` can drain it later).
Each pass is preceded by the probe's status point (``broadband_probe``), and alert
transitions are written at once (``broadband_alert``). The forwarder itself runs in the store
thread (:class:`~probe.agent.storethread.StoreThread`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from probe.agent.logjson import event

if TYPE_CHECKING:
    from probe.agent.metrics import AgentMetrics
    from probe.agent.state import AgentState
    from probe.agent.storethread import StoreThread
    from probe.sinks.forwarder import Forwarder
    from probe.store import SqliteStore


class InProcessForwarding:
    """The forwarder of one agent, its backoff task and what it reports to /metrics."""

    def __init__(self, store: StoreThread, stop: asyncio.Event, *, probe_id: str,
                 now: Callable[[], datetime], rand: Callable[[], float],
                 metrics: AgentMetrics | None, counters: Callable[[], AgentState]) -> None:
        self.store, self._stop = store, stop
        self.probe_id, self._now, self._rand = probe_id, now, rand
        self.metrics = metrics
        self._counters = counters  # the agent's state now (its test counters)
        self.forwarder: Forwarder | None = None
        self._task: asyncio.Task[None] | None = None
        self._failures = 0

    async def open(self, make_forwarder: Callable[[SqliteStore], Forwarder | None]) -> None:
        self.forwarder = await self.store.call(lambda: make_forwarder(self.store.db()))

    async def forward(self) -> None:
        """One forwarder pass in the store thread; on failure, retry later with backoff."""
        if self.forwarder is None or self._task is not None:
            await self.publish_backlog()
            return
        forwarder = self.forwarder
        await self._write_status_point()
        report = await self.store.call(forwarder.drain)
        await self.publish_backlog()
        if report.failure is None:
            self._failures = 0
            if report.delivered:
                event("forwarded", delivered=report.delivered)
            return
        self._failures += 1
        from probe.sinks.forwarder import backoff_delay_s

        delay = backoff_delay_s(self._failures, forwarder.policy, self._rand)
        event("forward failed", level=logging.WARNING, error=report.failure.message,
              retry_in_s=round(delay, 1))
        self._task = asyncio.ensure_future(self._forward_later(delay))

    async def _write_status_point(self) -> None:
        """The probe's own state (``broadband_probe``: backlog about to be sent, test counters)
        ahead of each forwarder pass, for the fleet's probe-health dashboard. Best effort:
        a sink that is down refuses it like the pass that follows."""
        from probe.sinks.fleetpoints import ProbeStatus, encode_probe_status

        assert self.forwarder is not None
        writer = self.forwarder.writer
        status = await self.store.call(lambda: self.store.db().status())
        state = self._counters()
        point = encode_probe_status(ProbeStatus(
            self.probe_id, self._now(), outbox_backlog=status.backlog,
            outbox_quarantined=status.quarantined, tests_completed=state.tests_run,
            tests_deferred=state.tests_deferred, tests_skipped=state.tests_skipped))
        failure = await self.store.call(lambda: writer.write([point]))
        if failure is not None:
            event("status not forwarded", level=logging.DEBUG, error=failure.message)

    async def write_alert_points(self, alerts: list[Any]) -> None:
        """Alert transitions also go to the sink (``broadband_alert``), written at once: the
        store keeps them as events, so a sink that is down loses nothing the agent knew."""
        if not alerts or self.forwarder is None:
            return
        from probe.sinks.fleetpoints import encode_alert

        writer = self.forwarder.writer
        lines = [encode_alert(a) for a in alerts]
        failure = await self.store.call(lambda: writer.write(lines))
        if failure is not None:
            event("alert not forwarded", level=logging.WARNING, error=failure.message)

    async def publish_backlog(self) -> None:
        if self.metrics is not None:
            self.metrics.backlog(await self._backlog())

    async def _backlog(self) -> int:
        return await self.store.call(lambda: self.store.db().status().backlog)

    async def _forward_later(self, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        self._task = None
        await self.forward()

    async def drain_before_exit(self) -> None:
        """``--runs N``: wait until the outbox is empty (or the agent is stopped)."""
        if self.forwarder is None:
            return
        while not self._stop.is_set():
            if await self._backlog() == 0:
                return
            if self._task is None:
                await self.forward()
                continue
            task = self._task
            stopper = asyncio.ensure_future(self._stop.wait())
            await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()

    async def cancel(self) -> None:
        """Stop a pending retry (at exit)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
