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
from probe.client.http1 import HttpConnection, check_status
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
        if self._conn is None:
            raise MeasurementError("the ping connection is not open")
        loop = asyncio.get_running_loop()
        start = loop.time()
        answer = self._conn.request(self._head)
        response = await await_answer(
            answer, timeout_s=self._timeout_s if timeout_s is None else timeout_s,
            what="a ping", address=self._address,
        )
        elapsed_ms = (loop.time() - start) * 1000.0
        check_status(response, "a ping", expected=(200, 204))
        return elapsed_ms

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


async def ping_until(pinger: Pinger, interval_s: float, stop: asyncio.Event) -> list[float]:
    """Round trips every ``interval_s`` until ``stop`` is set; the one in flight is dropped.

    A ping that takes longer than the interval (a full queue) is simply followed by the next
    one. Errors end the side channel quietly: loaded latency is then reported from what was
    taken (or None), and the transfer itself decides whether the run failed.
    """
    loop = asyncio.get_running_loop()
    rtts: list[float] = []
    next_at = loop.time()
    while not stop.is_set():
        ping = asyncio.ensure_future(pinger.ping_ms(timeout_s=3600.0))
        stopper = asyncio.ensure_future(stop.wait())
        done, _ = await asyncio.wait({ping, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if ping not in done:
            ping.cancel()
            await asyncio.gather(ping, return_exceptions=True)
            stopper.cancel()
            break
        stopper.cancel()
        if ping.exception() is not None:
            break
        rtts.append(ping.result())
        next_at += interval_s
        delay = next_at - loop.time()
        if delay < 0:
            next_at = loop.time()
            continue
        try:
            async with asyncio.timeout(delay):
                await stop.wait()
        except TimeoutError:
            pass
    return rtts
