"""One test as the agent runs it: the server in turn, the measurement (counters read around it
when gating is on; cancelled, never half-kept, when the agent is stopped), and its check
against the contract.

What a failure does to the plan is the daemon's (and the agenda's) business: :meth:`Tester.run`
raises the adapter's ``ProbeError``/``OSError`` for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from probe.agent.config import ServerConfig
from probe.agent.logjson import event
from probe.errors import ProbeError

if TYPE_CHECKING:
    from probe.agent.gating import GatingPolicy
    from probe.compliance.contract import Contract
    from probe.compliance.verdict import TestVerdict
    from probe.hostfacts.counters import CounterReader
    from probe.measurement import Measurement


class Tester:
    """Runs the agent's tests on its servers, in turn, and checks them."""

    def __init__(self, servers: Sequence[ServerConfig], contract: Contract,
                 measure: Callable[[ServerConfig], Awaitable[Measurement]],
                 stop: asyncio.Event, *, counter_reader: CounterReader | None = None,
                 gating: GatingPolicy | None = None) -> None:
        self.servers, self.contract, self._measure = tuple(servers), contract, measure
        self._stop = stop
        self._reader, self._policy = counter_reader, gating
        self._turn = 0

    def pick_server(self, exclude: ServerConfig | None = None) -> ServerConfig:
        """Servers in turn, so on-net and off-net both get tested; never ``exclude``'s URL."""
        servers = [s for s in self.servers if exclude is None or s.url != exclude.url]
        servers = servers or list(self.servers)
        server = servers[self._turn % len(servers)]
        self._turn += 1
        return server

    async def run(self, server: ServerConfig, flag: str | None = None) -> Measurement | None:
        """One test (``flag`` added to its record); None when the agent was stopped meanwhile.
        Raises what the measurement raised (ProbeError, OSError)."""
        reader, policy = self._reader, self._policy
        if reader is not None and policy is not None:
            from probe.agent.gatekeeper import measure_watched

            # The counters are read around the test: cross-traffic during it goes on the record.
            run: Awaitable[Measurement] = measure_watched(
                reader, policy, lambda: self._measure(server))
        else:
            run = self._measure(server)
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
            event("test interrupted", server=server.name)
            return None
        measurement = task.result()
        if flag:
            measurement = replace(measurement, flags=(*measurement.flags, flag))
        return measurement

    def check(self, measurement: Measurement) -> TestVerdict | None:
        """The per-test verdict; None (logged) when the contract cannot judge this record."""
        from probe.compliance.check import check_measurement

        try:
            return check_measurement(self.contract, measurement)
        except ProbeError as exc:
            event("check failed", level=logging.WARNING, error=str(exc))
            return None
