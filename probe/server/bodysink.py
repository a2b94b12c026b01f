"""An upload body read straight from the socket: counted, sampled and dropped.

:class:`BodySink` is the ``BufferedProtocol`` a handed-over connection's transport reads into
(:mod:`probe.server.handoff` does the taking over): ``recv_into`` one preallocated buffer per
worker, framing parsed by :class:`BodyFraming` in place, one kernel copy per byte, as iperf3
does. Its reads are batched by ``SO_RCVLOWAT`` and slow streams are read on the process's
shared poller (:mod:`probe.server.poller`); when and how much, is :mod:`probe.readpolicy`.
Samples stay exact: each is taken at a read, and a read takes everything that had arrived.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from typing import Any, Final

from aiohttp.web_protocol import RequestHandler

from probe import tcpinfo, wire
from probe.readpolicy import (
    BATCH_TICK_S,
    MAX_TICK_READ_BYTES_PER_S,
    MIN_SLOW_READ_LOWAT_BYTES,
    SLOW_BATCH_TICK_S,
    read_burst,
    read_on_tick,
    server_read_lowat_bytes,
    server_retune_tick_s,
    valve_bytes,
    worth_changing,
)
from probe.server.framing import BodyFraming
from probe.server.poller import (
    POLL_INTERVAL_S,
    SharedPoller,
    read_into,
    shared_poller,
)

# One receive buffer per worker process, shared by every upload: each read is counted and
# forgotten before the event loop moves on, so no two connections ever use it at once.
RECV_BUFFER_BYTES: Final = 1 << 20

_recv_buffer: bytearray | None = None


def recv_buffer() -> bytearray:
    global _recv_buffer  # noqa: PLW0603 - one buffer per process, made on first use
    if _recv_buffer is None:
        _recv_buffer = bytearray(RECV_BUFFER_BYTES)
    return _recv_buffer


def socket_arrivals(transport: asyncio.BaseTransport | None) -> Callable[[], int | None] | None:
    """What has reached the transport's TCP socket so far, in order or not, as a callable.

    :func:`probe.tcpinfo.arrived_bytes` from ``TCP_INFO``; None (or a None answer) where the
    kernel does not say. Answers go into the upload answer's ``arrived`` timeline, which lets
    the client see that a window's start was held back behind a lost segment.
    """
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None or not hasattr(socket, "TCP_INFO"):
        return None

    def arrived() -> int | None:
        try:
            raw = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, tcpinfo.ARRIVALS_LEN)
        except (OSError, ValueError):
            return None
        return tcpinfo.arrived_bytes(raw)

    return arrived


class BodySink(asyncio.BufferedProtocol):
    """Receives one body into the shared buffer, counting and sampling; forwards the rest.

    ``finished`` resolves to ``None`` at the body's end, or to the reason it stopped early
    (framing error, byte cap); a lost connection sets ``ConnectionResetError`` on it.
    """

    def __init__(self, owner: RequestHandler, framing: BodyFraming, *, max_bytes: int,
                 sample: bool, arrivals: Callable[[], int | None] | None = None) -> None:
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
        self._timeline = wire.ReceivedTimeline(time.monotonic(), arrivals) if sample else None
        self._socket: Any = None
        self._lowat = 1
        self._tick_bytes = 0
        self._tick: asyncio.TimerHandle | None = None
        self._tick_s = BATCH_TICK_S
        self._poller: SharedPoller | None = None  # set while the shared poller reads us
        self._poll_t = 0.0
        self._poll_bytes = 0

    @property
    def samples(self) -> list[tuple[float, int]] | None:
        """The body's timeline so far (None: not sampled)."""
        return None if self._timeline is None else self._timeline.samples

    @property
    def timeline(self) -> wire.ReceivedTimeline | None:
        """The body's timeline, growing while it arrives (None: not sampled)."""
        return self._timeline

    @property
    def received_bytes(self) -> int:
        return self._framing.payload_bytes

    @property
    def arrived(self) -> list[tuple[float, int]]:
        """The timeline's arrivals (see :class:`probe.wire.ReceivedTimeline`)."""
        return [] if self._timeline is None else self._timeline.arrived

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
        self._tick_s = server_retune_tick_s(self._lowat)
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
        want = server_read_lowat_bytes(rate_bytes_per_s)
        if worth_changing(self._lowat, want):
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

        def take(count: int) -> bool:
            self._feed(self._buffer, count)
            return not self.finished.done()

        read_burst(lambda: read_into(fd, view), take, len(view))
        if self.finished.done():
            return  # _finish paused the transport; detach() ends the polling
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
        if self._timeline is not None:
            self._timeline.read(time.monotonic(), before, received)
        if received > self._max_bytes:
            self._finish(f"body exceeds the cap of {self._max_bytes} bytes")
        elif framing.done:
            self.after_body_bytes += nbytes - used
            self._finish(framing.error)

    def _finish(self, reason: str | None) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.pause_reading()
        if self._timeline is not None:
            self._timeline.end(time.monotonic(), self.received_bytes)
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
