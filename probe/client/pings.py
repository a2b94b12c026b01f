"""Round trips: ``GET /ping`` on one warm keep-alive connection, idle and beside a transfer.

The first round trip on a new connection is discarded (it may include the server accepting the
connection and lazy setup on both sides); the rest are application-level RTTs measured with
the event loop's monotonic clock. Beside a transfer the pinger runs on its *own* connection, so
its requests wait in the same queues as the transfer's packets: that is the loaded latency.
"""

from __future__ import annotations

import asyncio
from typing import Final

from probe import wire
from probe.client.connect import ServerAddress, await_answer, open_connection, request_head
from probe.client.http1 import HttpConnection
from probe.client.responses import Response, check_status
from probe.errors import MeasurementError

WARMUP_PINGS: Final = 1


class Pinger:
    """A warm connection that times ``GET /ping`` round trips, in milliseconds."""

    def __init__(self, address: ServerAddress, token: str | None, timeout_s: float) -> None:
        self._address = address
        self._timeout_s = timeout_s
        self._head = request_head(address, "GET", wire.PATH_PING, token=token)
        self._conn: HttpConnection | None = None

    async def open(self) -> Pinger:
        self._conn = await open_connection(self._address, HttpConnection, timeout_s=self._timeout_s)
        for _ in range(WARMUP_PINGS):
            await self.ping_ms()
        return self

    async def ping_ms(self, timeout_s: float | None = None) -> float:
        """One round trip; raises the translated error if the server does not answer."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        answer = self.request()
        response = await await_answer(
            answer, timeout_s=self._timeout_s if timeout_s is None else timeout_s,
            what="a ping", address=self._address,
        )
        elapsed_ms = (loop.time() - start) * 1000.0
        check_status(response, "a ping", expected=(200, 204))
        return elapsed_ms

    def request(self) -> asyncio.Future[Response]:
        """Send one ping and return the answer's future, without a timeout (for ``ping_every``)."""
        if self._conn is None:
            raise MeasurementError("the ping connection is not open")
        return self._conn.request(self._head)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


async def idle_round_trips(
    address: ServerAddress, token: str | None, *, count: int, timeout_s: float
) -> list[float]:
    """``count`` round trips back to back on a warm connection."""
    pinger = await Pinger(address, token, timeout_s).open()
    try:
        return [await pinger.ping_ms() for _ in range(count)]
    finally:
        pinger.close()


async def ping_every(pinger: Pinger, interval_s: float,
                     rtts: list[tuple[float, float]]) -> None:
    """Append ``(loop time sent, round trip ms)`` to ``rtts`` every ``interval_s`` until cancelled.

    Run as a task and cancelled when the transfer ends; the round trip then in flight is
    dropped. A ping that takes longer than the interval (a full queue) is simply followed by
    the next one. Errors end the side channel quietly: loaded latency is then reported from
    what was taken (or None), and the transfer itself decides whether the run failed.
    Each round trip costs one timer and one response future, nothing more: on a small VM every
    extra wake-up of a sleeping Python process costs ~0.1-0.3 ms of CPU (docs/performance.md).
    """
    loop = asyncio.get_running_loop()
    next_at = loop.time()
    while True:
        start = loop.time()
        try:
            response = await pinger.request()
        except (MeasurementError, OSError):
            return
        rtt_ms = (loop.time() - start) * 1000.0
        if response.status not in (200, 204):
            return
        rtts.append((start, rtt_ms))
        next_at += interval_s
        delay = next_at - loop.time()
        if delay < 0:
            next_at = loop.time()
        else:
            await asyncio.sleep(delay)
