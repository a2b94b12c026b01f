"""The client's HTTP/1.1 connection: a BufferedProtocol that counts bulk bodies without copying.

Why not aiohttp's client for the transfers? Measured on loopback against a 4-stream download
(docs/measurement.md, "Client hot path"): ``aiohttp`` with ``iter_any()`` and a 1 MiB
``read_bufsize`` cost ~0.6 CPU-s per GB, five times this protocol's ~0.12 CPU-s per GB
(``recv_into`` one preallocated buffer, bytes counted and dropped), and topped out at a third
of its rate. The measurement server speaks plain HTTP/1.1 (:mod:`probe.wire`), so the subset
needed here is small: one request at a time per connection (keep-alive for pings), responses
with ``Content-Length`` (or none, e.g. 204), status codes mapped to :mod:`probe.errors`.
The response head, its parsing and the status checks are :mod:`probe.client.responses`
(re-exported here).

Bodies are either *counted* (download payload: ``body_bytes`` grows, nothing is kept) or
*collected* (small answers: JSON of an upload, error messages) up to ``MAX_COLLECT_BYTES``.
"""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Final

from probe.client import fastpaths
from probe.client.responses import Response, check_status, content_length, parse_head
from probe.errors import ProtocolViolation, ServerUnreachable
from probe.readpolicy import (
    client_read_lowat_bytes,
    read_burst,
    read_on_tick,
    valve_bytes,
    worth_changing,
)

# Big enough that one recv_into drains what a 10 Gbit/s stream delivers between two event-loop
# turns; allocated once per transfer direction and shared by its streams (it is only written
# and counted, never read back), so it stays in cache.
READ_BUFFER_BYTES: Final = 1 << 20
# Batched wake-ups for counted bodies: SO_RCVLOWAT asks the kernel to report the socket
# readable only once a batch of the stream's bytes is queued (probe.readpolicy decides how
# much), so each recv_into() moves ~250 KiB instead of ~100 KiB at loopback rates: 0.13-0.16
# -> 0.09 CPU-s/GB measured (docs/measurement.md). What waits in the kernel is still counted
# at every sample (FIONREAD, see queued_bytes), so batching delays no byte in the samples.
# Unlike SO_RCVBUF, SO_RCVLOWAT leaves receive-window autotuning on.
# Slow bodies are drained at the sampler's tick, which wakes the process anyway, instead of by
# wake-ups of their own; which ones, and their SO_RCVLOWAT safety valve: probe.readpolicy. An
# end of stream or an error wakes the loop whatever the mark, and the transport reports them.
MAX_HEAD_BYTES: Final = 64 * 1024
MAX_COLLECT_BYTES: Final = 4 * 1024 * 1024

# The response head and its checks live in probe.client.responses; re-exported for callers.
__all__ = [
    "MAX_COLLECT_BYTES",
    "MAX_HEAD_BYTES",
    "READ_BUFFER_BYTES",
    "HttpConnection",
    "Response",
    "check_status",
    "parse_head",
]


class HttpConnection(asyncio.BufferedProtocol):
    """One keep-alive HTTP/1.1 connection; see the module docstring for the body modes."""

    def __init__(self, read_buffer: bytearray | None = None) -> None:
        self._buffer = read_buffer if read_buffer is not None else bytearray(64 * 1024)
        self._view = memoryview(self._buffer)
        self.transport: asyncio.Transport | None = None
        self._loop = asyncio.get_running_loop()
        self._head = bytearray()
        self._response: asyncio.Future[Response] | None = None
        self._parsed: Response | None = None
        self._count_body = False
        self._counting = False  # the fast path: body bytes are counted and dropped
        self._collect = bytearray()
        self._body_left = 0
        self.body_bytes = 0
        self.body_done: asyncio.Future[None] = self._loop.create_future()
        self.closed: asyncio.Future[None] = self._loop.create_future()
        # loop.time() when the counted body ended or the connection was lost, else None.
        self.ended_at: float | None = None
        self._batched_bytes = 0
        self._lowat = 1
        self._draining = False

    # -- asyncio protocol -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._view

    def buffer_updated(self, nbytes: int) -> None:
        if self._counting:
            take = nbytes if nbytes < self._body_left else self._body_left
            self.body_bytes += take
            self._body_left -= take
            if self._body_left == 0:
                self._counting = False
                self.ended_at = self._loop.time()
                if not self.body_done.done():
                    self.body_done.set_result(None)
            return
        self._feed(bytes(self._view[:nbytes]))

    def eof_received(self) -> bool | None:
        return None  # let the transport close; connection_lost reports it

    def connection_lost(self, exc: Exception | None) -> None:
        if self.ended_at is None:
            self.ended_at = self._loop.time()
        error = ServerUnreachable(
            "the server closed the connection before answering"
            + (f" ({exc})" if exc else "")
        )
        if self._response is not None and not self._response.done():
            self._response.set_exception(error)
            self._response.exception()  # mark retrieved: a dropped ping must not log at exit
        if not self.body_done.done():
            self.body_done.set_exception(error)
            self.body_done.exception()  # retrieved: an unfinished body is normal at a deadline
        if not self.closed.done():
            self.closed.set_result(None)

    # -- requests -----------------------------------------------------------------------------
    def request(self, head: bytes, *, count_body: bool = False) -> asyncio.Future[Response]:
        """Send a request head; the future resolves with the response head (and small body).

        With ``count_body`` a 200 answer's body is counted into ``body_bytes`` (and
        ``body_done`` resolves at its end) instead of being collected.
        """
        response = self.expect_response(count_body=count_body)
        assert self.transport is not None
        self.transport.write(head)
        return response

    def expect_response(self, *, count_body: bool = False) -> asyncio.Future[Response]:
        """Wait for a response to a request that was already sent (e.g. on the raw socket)."""
        if self.transport is None or self.transport.is_closing():
            raise ServerUnreachable("the connection to the server is closed")
        if count_body and self.body_done.done():  # the next body on a kept-alive connection
            self.body_done = self._loop.create_future()
            self.ended_at = None
        self._head.clear()
        self._collect.clear()
        self._parsed = None
        self._count_body = count_body
        self._response = self._loop.create_future()
        return self._response

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def queued_bytes(self) -> int:
        """Body bytes already received by the kernel but not yet read (plain TCP only).

        Added to ``body_bytes`` at each sample so that the count does not depend on when the
        event loop got round to reading (batched wake-ups, a busy CPU).
        """
        if not self._counting or self.transport is None:
            return 0
        sock = self.transport.get_extra_info("socket")
        if sock is None or self.transport.get_extra_info("sslcontext") is not None:
            return 0  # TLS: the kernel holds ciphertext, not body bytes
        queued = fastpaths.received_unread_bytes(sock)
        return 0 if queued is None else min(queued, self._body_left)

    def arrived_bytes(self) -> int | None:
        """An upper bound on payload that reached this host, in order or not; None if unknown.

        Data segments received x the largest segment's payload (``TCP_INFO``): unlike
        ``body_bytes`` it does not stall while a lost segment is repaired. Segments that are
        not full, repeated ones and the response heads make it read high, never low.
        """
        sock = self.transport.get_extra_info("socket") if self.transport is not None else None
        return None if sock is None else fastpaths.arrived_bytes(sock)

    def losses_seen(self) -> bool | None:
        """Whether this connection lost (or reordered) a segment so far: one arrived out of
        order, or this end retransmitted one (None: unknown; see fastpaths.losses_seen)."""
        sock = self.transport.get_extra_info("socket") if self.transport is not None else None
        return None if sock is None else fastpaths.losses_seen(sock)

    def batch_reads(self, interval_s: float) -> None:
        """At a sample tick: drain a slow body, then retune SO_RCVLOWAT to the stream's rate."""
        transport = self.transport
        sock = transport.get_extra_info("socket") if transport is not None else None
        if sock is not None and self._draining:
            self._drain(sock.fileno())
        moved = self.body_bytes - self._batched_bytes
        self._batched_bytes = self.body_bytes
        if (transport is None or sock is None or interval_s <= 0 or not self._counting
                or not fastpaths.enabled()):
            return
        rate_bytes_per_s = moved / interval_s
        rcvbuf = 0
        if transport.get_extra_info("sslcontext") is None:  # TLS: only the transport reads
            try:
                rcvbuf = int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))
            except OSError:
                rcvbuf = 0
        self._draining = read_on_tick(rate_bytes_per_s, interval_s, rcvbuf,
                                      reading_on_tick=self._draining)
        want = (valve_bytes(rcvbuf) if self._draining
                else client_read_lowat_bytes(rate_bytes_per_s))
        if not worth_changing(self._lowat, want):
            return
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, want)
        except OSError:
            self._draining = False
            return  # not supported here: reads simply stay unbatched
        self._lowat = want

    def _drain(self, fd: int) -> None:
        """Count what the kernel holds of a counted body, without waiting for a wake-up."""
        view = self._view

        def read() -> int | None:
            if not self._counting:
                return None
            try:
                return os.readv(fd, [view])
            except OSError:  # nothing there (EAGAIN), or an error the transport will report
                return None

        def take(count: int) -> bool:
            self.buffer_updated(count)
            return self._counting

        read_burst(read, take, len(view))

    # -- parsing (small data only) -----------------------------------------------------------
    def _feed(self, data: bytes) -> None:
        if self._response is None or self._response.done():
            return  # bytes after the answer we waited for (e.g. a closed request) are dropped
        if self._parsed is None:
            self._head += data
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                if len(self._head) > MAX_HEAD_BYTES:
                    self._fail(ProtocolViolation("server sent an oversized response head"))
                return
            try:
                parsed = parse_head(bytes(self._head[:end]))
                length = content_length(parsed)
            except ProtocolViolation as exc:
                self._fail(exc)
                return
            rest = bytes(self._head[end + 4:])
            self._parsed = parsed
            if self._count_body and parsed.status == 200:
                if length is None:
                    self._fail(ProtocolViolation("download answer lacks Content-Length"))
                    return
                self._body_left = length
                self._counting = True
                self._response.set_result(parsed)
                if rest:
                    self._view[: len(rest)] = rest
                    self.buffer_updated(len(rest))
                return
            self._body_left = length if length is not None else 0
            self._body_left = min(self._body_left, MAX_COLLECT_BYTES)
            data = rest
        self._collect += data[: self._body_left]
        self._body_left -= min(len(data), self._body_left)
        if self._body_left == 0:
            self._response.set_result(
                Response(self._parsed.status, self._parsed.reason, self._parsed.headers,
                         bytes(self._collect))
            )

    def _fail(self, exc: Exception) -> None:
        if self._response is not None and not self._response.done():
            self._response.set_exception(exc)
            self._response.exception()
        self.close()

