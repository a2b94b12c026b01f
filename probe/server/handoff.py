"""Upload bodies off aiohttp's parser: the request head is aiohttp's, the body is ours.

Why: reading ``/upload`` through aiohttp (``request.content.iter_any()``) costs 2-4x the CPU per
GB of iperf3's receiver, because every ``recv()`` allocates a new ``bytes`` and the HTTP parser
copies it again into the payload stream (docs/server.md, "Performance"). Here the body is read
with ``recv_into`` one preallocated buffer per worker, counted by :class:`BodyFraming` and
dropped: one kernel copy per byte, as iperf3 does.

How, in three steps:

1. :class:`HandoffRequestHandler` (aiohttp's connection protocol, made by :class:`HandoffRunner`)
   watches only the *first* request head of a connection. If it is ``POST|PUT /upload``
   (HTTP/1.1, every line ending in CRLF), aiohttp is fed exactly the head; the bytes after it
   are held back and the socket's reading is paused, so aiohttp's parser never sees the body.
2. The upload handler calls :func:`receive_body`: it swaps the transport's protocol for a
   :class:`BodySink` (a ``BufferedProtocol``), feeds it the held bytes, resumes reading, and
   waits for the body's end, an error, a cap or the client's disconnect.
3. The sink stops reading where the body ends and the transport goes back to aiohttp, which
   writes the handler's answer. aiohttp's parser still believes the body unfinished, so the
   answer carries ``Connection: close`` and the connection ends after it; anything the client
   sent after the body is not read (the probe's client opens one connection per upload).

Everything else (later requests on a kept-alive connection, aiohttp test servers made without
:class:`HandoffRunner`, LibreSpeed's ``empty.php``) reads bodies through aiohttp as before:
:func:`release_held` gives aiohttp any held bytes back unchanged.
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
from typing import Any, Final

from aiohttp import hdrs, web
from aiohttp.web_protocol import RequestHandler

from probe import wire
from probe.readpolicy import MAX_TICK_READ_BYTES_PER_S, read_on_tick, valve_bytes
from probe.server.framing import BodyFraming
from probe.server.poller import (
    MAX_READS_PER_POLL,
    POLL_INTERVAL_S,
    SharedPoller,
    read_into,
    shared_poller,
)

# One receive buffer per worker process, shared by every upload: each read is counted and
# forgotten before the event loop moves on, so no two connections ever use it at once.
RECV_BUFFER_BYTES: Final = 1 << 20
MAX_WATCHED_HEAD_BYTES: Final = 16 * 1024
# Batched wake-ups: SO_RCVLOWAT asks the kernel to report the socket readable only once
# READ_BATCH_S of the stream's recent rate is queued (capped): in the veth lab 60 % of unbatched
# reads moved < 64 KiB, and batching cut the server's CPU per GB by ~16 % (docs/server.md).
# Streams below MIN_READ_LOWAT_BYTES per READ_BATCH_S (~260 Mbit/s) are batched coarsely, by
# SLOW_READ_BATCH_S of data per read: unbatched, a 25 Mbit/s stream woke the server for every
# one or two packets and a shaped 100 Mbit/s upload cost it 7 CPU-s/GB (iperf3: 3.6). Below
# MIN_SLOW_READ_LOWAT_BYTES (~0.65 Mbit/s) reads are not batched. Samples stay exact: each is
# taken at a read, and a read takes everything that had arrived. The tail of a body (last
# chunk, "0\r\n\r\n") may be smaller than the mark: every tick (BATCH_TICK_S for fast
# streams, SLOW_BATCH_TICK_S otherwise) that saw no read drops the mark to 1 byte and re-polls
# the socket, so the end of a body is seen at most two ticks late.
READ_BATCH_S: Final = 0.002
BATCH_TICK_S: Final = 0.005
SLOW_READ_BATCH_S: Final = 0.05
SLOW_BATCH_TICK_S: Final = 0.1
# While reads are not batched (slow streams) nothing can be held back by the mark, so the
# tick only has to notice a stream speeding up: a slow tick keeps a 10 Mbit/s upload from
# paying 200 timer wake-ups per second per stream.
UNBATCHED_TICK_S: Final = 0.1
MIN_READ_LOWAT_BYTES: Final = 64 * 1024
MIN_SLOW_READ_LOWAT_BYTES: Final = 4 * 1024
MAX_READ_LOWAT_BYTES: Final = 256 * 1024
# Slow plain-TCP streams are read by the process's shared poller (probe.server.poller); which
# ones, and their SO_RCVLOWAT safety valve: probe.readpolicy.
_UPLOAD_LINE: Final = re.compile(
    rb"(?:POST|PUT) " + re.escape(wire.PATH_UPLOAD.encode()) + rb"(?:\?[^ \r\n]*)? HTTP/1\.1\r\n"
)
_UPLOAD_PREFIXES: Final = tuple(
    method + b" " + wire.PATH_UPLOAD.encode() for method in (b"POST", b"PUT")
)

_recv_buffer: bytearray | None = None


def recv_buffer() -> bytearray:
    global _recv_buffer  # noqa: PLW0603 - one buffer per process, made on first use
    if _recv_buffer is None:
        _recv_buffer = bytearray(RECV_BUFFER_BYTES)
    return _recv_buffer


def _may_become_upload(head: bytes | bytearray) -> bool:
    """Could a request head that starts with ``head`` still be an upload line?"""
    return any(head[:len(p)] == p[:len(head)] for p in _UPLOAD_PREFIXES)


class HandoffRequestHandler(RequestHandler):
    """aiohttp's connection protocol, holding back the body of a first-request upload."""

    __slots__ = ("_watched", "held")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._watched: bytearray | None = bytearray()  # the first head so far; None: not watching
        self.held: bytes | None = None  # body bytes that arrived with the head

    def data_received(self, data: bytes) -> None:
        watched = self._watched
        if watched is None:
            super().data_received(data)
            return
        self._watched = None  # from here on, unless this is an upload head still arriving
        seen = len(watched)
        watched += data[:MAX_WATCHED_HEAD_BYTES]
        end = watched.find(b"\r\n\r\n", max(0, seen - 3))
        if end < 0:
            if len(watched) < MAX_WATCHED_HEAD_BYTES and _may_become_upload(watched):
                self._watched = watched
            super().data_received(data)
            return
        head = bytes(watched[:end + 4])
        # Only a head whose end aiohttp's parser finds at the same byte: every LF in a CRLF.
        if _UPLOAD_LINE.match(head) is None or head.count(b"\n") != head.count(b"\r\n"):
            super().data_received(data)
            return
        cut = end + 4 - seen
        super().data_received(data[:cut])
        if self.transport is not None and not self.transport.is_closing():
            self.held = data[cut:]
            self.transport.pause_reading()


class HandoffRunner(web.AppRunner):
    """``web.AppRunner`` whose connections are :class:`HandoffRequestHandler`s."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _HandoffServer
        return server


class _HandoffServer(web.Server):
    def __call__(self) -> RequestHandler:
        return HandoffRequestHandler(self, loop=self._loop, **self._kwargs)


def release_held(request: web.BaseRequest) -> None:
    """Give aiohttp back the body bytes held for a hand-off that is not going to happen."""
    protocol = request.protocol
    if isinstance(protocol, HandoffRequestHandler) and protocol.held is not None:
        held, protocol.held = protocol.held, None
        if held:
            protocol.data_received(held)
        if protocol.transport is not None:
            protocol.transport.resume_reading()


class BodySink(asyncio.BufferedProtocol):
    """Receives one body into the shared buffer, counting and sampling; forwards the rest.

    ``finished`` resolves to ``None`` at the body's end, or to the reason it stopped early
    (framing error, byte cap); a lost connection sets ``ConnectionResetError`` on it.
    """

    def __init__(self, owner: RequestHandler, framing: BodyFraming, *, max_bytes: int,
                 sample: bool) -> None:
        self._owner = owner
        self._framing = framing
        self._max_bytes = max_bytes
        self._buffer = recv_buffer()
        # The transport reads into a memoryview of it: asyncio's TLS layer fills a buffer in
        # several steps through ``buf[offset:]``, and a bytearray slice would be a copy (the
        # bytes would be lost and stale ones counted); a memoryview slice is the same memory.
        self._view = memoryview(self._buffer)
        self._transport: asyncio.Transport | None = None
        self.finished: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self.after_body_bytes = 0
        self.samples: list[tuple[float, int]] | None = [] if sample else None
        self._last_t = time.monotonic()
        if self.samples is not None:
            self.samples.append((self._last_t, 0))
        self._socket: Any = None
        self._lowat = 1
        self._tick_bytes = 0
        self._tick: asyncio.TimerHandle | None = None
        self._tick_s = BATCH_TICK_S
        self._poller: SharedPoller | None = None  # set while the shared poller reads us
        self._poll_t = 0.0
        self._poll_bytes = 0

    @property
    def received_bytes(self) -> int:
        return self._framing.payload_bytes

    def attach(self, transport: asyncio.Transport, held: bytes) -> None:
        self._transport = transport
        transport.set_protocol(self)
        if held:
            self._feed(held, len(held))
        if not self.finished.done():
            self._socket = transport.get_extra_info("socket")
            if self._socket is not None:
                self._schedule_tick()
            transport.resume_reading()

    def _schedule_tick(self) -> None:
        if self._lowat >= MIN_READ_LOWAT_BYTES:
            self._tick_s = BATCH_TICK_S
        elif self._lowat > 1:
            self._tick_s = SLOW_BATCH_TICK_S
        else:
            self._tick_s = UNBATCHED_TICK_S
        self._tick = asyncio.get_running_loop().call_later(self._tick_s, self._retune)

    def _retune(self) -> None:
        """Set SO_RCVLOWAT to a batch of the last tick's rate; 1 after a quiet tick."""
        self._tick = None
        if self.finished.done() or self._socket is None:
            return
        received = self._framing.payload_bytes
        moved, self._tick_bytes = received - self._tick_bytes, received
        rate_bytes_per_s = moved / self._tick_s
        # Only from a slow tick (a 5 ms tick's rate is too short a look), and only then is the
        # receive buffer asked for: fast streams make no extra syscall per tick.
        if self._tick_s >= SLOW_BATCH_TICK_S and rate_bytes_per_s <= MAX_TICK_READ_BYTES_PER_S:
            rcvbuf = self._pollable_rcvbuf()
            if read_on_tick(rate_bytes_per_s, POLL_INTERVAL_S, rcvbuf, reading_on_tick=False):
                self._start_polling(rcvbuf)
                return
        want = min(MAX_READ_LOWAT_BYTES, int(rate_bytes_per_s * READ_BATCH_S))
        if want < MIN_READ_LOWAT_BYTES:
            want = min(MIN_READ_LOWAT_BYTES - 1, int(rate_bytes_per_s * SLOW_READ_BATCH_S))
            if want < MIN_SLOW_READ_LOWAT_BYTES:
                want = 1
        if want != self._lowat and (want == 1 or abs(want - self._lowat) >= self._lowat // 4):
            self._set_lowat(want)
            if want == 1 and self._transport is not None and not self._transport.is_closing():
                # Re-register the socket with the selector: it polls it at once, so a tail
                # that was below the old mark is read now, whatever the kernel's wake-up rules.
                self._transport.pause_reading()
                self._transport.resume_reading()
        if self._socket is not None:
            self._schedule_tick()

    def _pollable_rcvbuf(self) -> int:
        """The receive buffer of a socket the poller may read (plain TCP), else 0."""
        transport = self._transport
        if (self._socket is None or transport is None or transport.is_closing()
                or transport.get_extra_info("ssl_object") is not None):
            return 0  # TLS: the socket holds records only the transport can decrypt
        try:
            return int(self._socket.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))
        except OSError:
            return 0

    def _start_polling(self, rcvbuf: int) -> None:
        self._set_lowat(valve_bytes(rcvbuf, MIN_SLOW_READ_LOWAT_BYTES))
        self._poll_t = asyncio.get_running_loop().time()
        self._poll_bytes = self._framing.payload_bytes
        self._poller = shared_poller()
        self._poller.add(self)

    def _stop_polling(self) -> None:
        if self._poller is not None:
            self._poller.discard(self)
            self._poller = None

    def poll(self, now: float) -> None:
        """The shared poller's tick: take everything that arrived, then check the rate."""
        if self.finished.done() or self._socket is None or self._transport is None:
            self._stop_polling()
            return
        fd, view = self._socket.fileno(), self._view
        for _ in range(MAX_READS_PER_POLL):
            count = read_into(fd, view)
            if count is None:
                break
            self._feed(self._buffer, count)
            if self.finished.done():
                return  # _finish paused the transport; detach() ends the polling
            if count < len(view):
                break
        received = self._framing.payload_bytes
        if now > self._poll_t:
            rate_bytes_per_s = (received - self._poll_bytes) / (now - self._poll_t)
            self._poll_t, self._poll_bytes = now, received
            if not read_on_tick(rate_bytes_per_s, POLL_INTERVAL_S, self._pollable_rcvbuf(),
                                reading_on_tick=True):
                self._stop_polling()  # back to batched reads and this stream's own tick
                self._tick_bytes = received
                if self._socket is not None:
                    self._schedule_tick()

    def _set_lowat(self, count: int) -> None:
        try:
            self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, count)
        except OSError:
            self._socket = None  # not supported (or closed): reads stay unbatched
            return
        self._lowat = count

    def detach(self) -> None:
        """Stop reading and give the transport back to aiohttp (idempotent)."""
        if self._tick is not None:
            self._tick.cancel()
            self._tick = None
        self._stop_polling()
        if self._lowat != 1 and self._socket is not None:
            self._set_lowat(1)
        transport = self._transport
        if transport is not None:
            self._transport = None
            if not transport.is_closing():
                transport.pause_reading()
            transport.set_protocol(self._owner)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._view

    def buffer_updated(self, nbytes: int) -> None:
        self._feed(self._buffer, nbytes)

    def _feed(self, data: bytes | bytearray, nbytes: int) -> None:
        if self.finished.done():  # bytes after the body, in a read that raced the pause
            self.after_body_bytes += nbytes
            return
        framing = self._framing
        before = framing.payload_bytes
        used = framing.feed(data, nbytes)
        received = framing.payload_bytes
        if self.samples is not None:
            now = time.monotonic()
            if now - self._last_t >= wire.SERVER_SAMPLE_INTERVAL_S:
                stamp_sample(self.samples, now, before, received)
                self._last_t = now
        if received > self._max_bytes:
            self._finish(f"body exceeds the cap of {self._max_bytes} bytes")
        elif framing.done:
            self.after_body_bytes += nbytes - used
            self._finish(framing.error)

    def _finish(self, reason: str | None) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.pause_reading()
        if self.samples is not None and self.samples[-1][1] != self.received_bytes:
            self.samples.append((time.monotonic(), self.received_bytes))
        if not self.finished.done():
            self.finished.set_result(reason)

    def eof_received(self) -> bool | None:
        return None  # the client stopped sending mid-body: close; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_polling()
        self._socket = None
        if not self.finished.done():
            self.finished.set_exception(ConnectionResetError("client went away mid-body"))
        self._transport = None
        self._owner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._owner.pause_writing()

    def resume_writing(self) -> None:
        self._owner.resume_writing()


def stamp_sample(samples: list[tuple[float, int]], now: float, before: int,
                 received: int) -> None:
    """Append the count read at ``now``; after a gap, also the count just before this read.

    Clients interpolate linearly between samples. Without the second point, bytes that
    arrived at once after a stall (head-of-line blocking on a slow line) would be spread back
    over the stall, as if they had arrived early, and a count must only ever lag.
    """
    if now - samples[-1][0] > 2 * wire.SERVER_SAMPLE_INTERVAL_S and 0 < before < received:
        samples.append((now, before))
    samples.append((now, received))


def framing_for(request: web.BaseRequest) -> BodyFraming | None:
    """The body framing aiohttp parsed from the head, or None where we leave it to aiohttp."""
    headers = request.headers
    encodings = headers.getall(hdrs.TRANSFER_ENCODING, [])
    if encodings:
        if len(encodings) == 1 and encodings[0].strip().lower() == "chunked":
            return BodyFraming()
        return None
    if request.content_length is not None and hdrs.UPGRADE not in headers:
        return BodyFraming(request.content_length)
    return None


def take_body(request: web.BaseRequest) -> tuple[bytes, BodyFraming] | None:
    """Claim a held-back upload body: its first bytes and its framing; None: use aiohttp."""
    protocol = request.protocol
    if not isinstance(protocol, HandoffRequestHandler) or protocol.held is None:
        return None
    framing = framing_for(request)
    content = request.content
    transport = request.transport
    if (framing is None or transport is None or transport.is_closing()
            or content.is_eof() or content.total_bytes or hdrs.UPGRADE in request.headers):
        release_held(request)
        return None
    held, protocol.held = protocol.held, None
    return held, framing
