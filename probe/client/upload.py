"""Upload streams: a chunked ``POST /upload`` body written from pre-framed random buffers.

Why raw sockets: writing 1 MiB pieces through an asyncio transport copies every byte the
kernel does not take at once into the transport's buffer; profiled on loopback that
``bytearray.extend`` cost as much CPU as ``send()`` itself (docs/measurement.md, "Client hot
path"). :class:`RawUploadStream` has a writer callback call ``socket.send(view[off:])`` on a
slice of the pre-framed buffer until the kernel's buffer is full, so each byte is copied once,
by the kernel, as iperf3 does. At the deadline the current chunk is completed, the last chunk
sent, and the socket is handed to an :class:`HttpConnection` transport to read the server's
answer (what it received, and when). :class:`TransportUploadStream` writes through the
transport instead: for ``https://`` servers (TLS must encrypt in user space anyway) and where
the fast paths are off (:mod:`probe.client.fastpaths`).

Both keep only as much unsent in the kernel as the stream's rate needs
(:mod:`probe.sendpolicy`), so a slow line's upload ends soon after its deadline.

The buffers hold distinct random chunks framed as ``<hex size>\\r\\n<data>\\r\\n``: 4 KiB
chunks while a stream is slow (finishing the chunk in flight at the deadline takes little
time even at 0.5 Mbit/s), 64 KiB once it is fast (fewer chunk lines for the server to parse);
one ``send()`` may span many of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from typing import Final

from probe import sendpolicy
from probe.client import fastpaths
from probe.client.connect import ServerAddress, open_connection, open_socket
from probe.client.http1 import HttpConnection, Response

FRAME_PAYLOAD_BYTES: Final = 64 * 1024
FRAMES: Final = 64  # 4 MiB of distinct random payload, repeated
# Slow streams send 4 KiB chunks: at the deadline a stream must finish the chunk in flight,
# and a 64 KiB one is 1 s of a 0.5 Mbit/s stream (4 streams). The framing then costs 0.2 % of
# the line instead of 0.014 %, which the server does not count as payload. A stream moves to
# the big chunks once it is faster than SMALL_FRAME_MAX_BYTES_PER_S (and never back).
SMALL_FRAME_PAYLOAD_BYTES: Final = 4 * 1024
SMALL_FRAMES: Final = 256  # 1 MiB of distinct random payload
SMALL_FRAME_MAX_BYTES_PER_S: Final = 1_250_000  # 10 Mbit/s per stream
LAST_CHUNK: Final = b"0\r\n\r\n"

_payloads: dict[int, tuple[memoryview, int]] = {}


def framed_payload(payload_bytes: int = FRAME_PAYLOAD_BYTES) -> tuple[memoryview, int]:
    """The pre-framed buffer of ``payload_bytes`` chunks and the size of one framed chunk.

    Generated once per process and chunk size.
    """
    if payload_bytes not in _payloads:
        header = b"%x\r\n" % payload_bytes
        frame = len(header) + payload_bytes + 2
        count = FRAMES if payload_bytes == FRAME_PAYLOAD_BYTES else SMALL_FRAMES
        buffer = bytearray()
        for _ in range(count):
            buffer += header + os.urandom(payload_bytes) + b"\r\n"
        _payloads[payload_bytes] = (memoryview(bytes(buffer)), frame)
    return _payloads[payload_bytes]


class _Body:
    """Where a stream is in the framed buffers, and how much payload it has handed over.

    A stream starts on the small chunks and moves to the big ones (at a chunk boundary) once
    :meth:`grow` is told it is fast; it never moves back.
    """

    def __init__(self) -> None:
        self.view, self.frame = framed_payload(SMALL_FRAME_PAYLOAD_BYTES)
        self.share = SMALL_FRAME_PAYLOAD_BYTES / self.frame
        self.off = 0
        self.payload = 0.0
        self.big = False
        self._grow = False

    def next_slice(self, limit: int) -> memoryview:
        """What to send next (at most ``limit`` bytes; to the chunk's end when moving on)."""
        end = len(self.view)
        if self._grow:
            end = self.off + (-self.off) % self.frame or self.off + self.frame
        return self.view[self.off:min(end, self.off + limit)]

    def advance(self, sent: int) -> None:
        self.payload += sent * self.share
        self.off += sent
        if self.off == len(self.view):
            self.off = 0
        if self._grow and self.off % self.frame == 0:
            self.view, self.frame = framed_payload(FRAME_PAYLOAD_BYTES)
            self.share = FRAME_PAYLOAD_BYTES / self.frame
            self.off, self.big, self._grow = 0, True, False

    def rest_of_chunk(self) -> memoryview:
        return self.view[self.off:self.off + (-self.off) % self.frame]

    def grow(self, rate_bytes_per_s: float | None) -> None:
        if not self.big and rate_bytes_per_s is not None:
            self._grow = rate_bytes_per_s > SMALL_FRAME_MAX_BYTES_PER_S


class _Tuner:
    """Applies :mod:`probe.sendpolicy` to a socket at every sample tick."""

    def __init__(self, sock: socket.socket | None) -> None:
        self._sock = sock
        self.rate: float | None = None
        self._counted = 0.0
        self._lowat = 0
        self.set_bound(sendpolicy.unsent_bound_bytes(None))

    def tick(self, payload: float, interval_s: float) -> None:
        """``payload``: bytes handed to the kernel so far; the rate is of those acknowledged
        where the kernel says how many are not (``TIOCOUTQ``), else of those handed over."""
        unacked = None if self._sock is None else fastpaths.unacked_bytes(self._sock)
        acked = payload if unacked is None else payload - unacked
        self.rate = sendpolicy.smoothed_rate(self.rate, int(acked - self._counted), interval_s,
                                             acknowledged=unacked is not None)
        self._counted = acked
        self.set_bound(sendpolicy.unsent_bound_bytes(self.rate))

    def room(self) -> int | None:
        """How much a slow stream may add to its unsent queue now (None: no limit).

        The kernel checks ``TCP_NOTSENT_LOWAT`` only before each new buffer, and one buffer
        can hold half the peer's window (35 KB seen at 0.5 Mbit/s, against a 4 KiB bound), so
        a slow stream's sends are cut to the bound exactly.
        """
        if self._sock is None or self._lowat == 0 or self._lowat >= sendpolicy.FAST_UNSENT_BYTES:
            return None
        unsent = fastpaths.unsent_bytes(self._sock)
        return None if unsent is None else max(0, self._lowat - unsent)

    def set_bound(self, want: int) -> None:
        if self._sock is None or not sendpolicy.worth_changing(self._lowat, want):
            return
        # Not on this platform: the stream simply queues more, and its upload ends later.
        with contextlib.suppress(AttributeError, OSError):
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT, want)
            self._lowat = want


class RawUploadStream:
    """One upload connection written by a writer callback on the raw socket (Linux fast path).

    ``sent_payload_bytes`` is what the kernel has accepted.
    """

    def __init__(self, address: ServerAddress, timeout_s: float) -> None:
        self._address = address
        self._timeout_s = timeout_s
        self._loop = asyncio.get_running_loop()
        self._body = _Body()
        self._sock: socket.socket | None = None
        self._tuner: _Tuner | None = None
        self._conn: HttpConnection | None = None
        self._writing = False
        self.error: OSError | None = None
        self.answer: asyncio.Future[Response] | None = None

    @property
    def sent_payload_bytes(self) -> int:
        return int(self._body.payload)

    def unacked_bytes(self) -> int | None:
        """Bytes the kernel still holds for this stream (unsent + unacknowledged), if known."""
        return None if self._sock is None else fastpaths.unacked_bytes(self._sock)

    async def open(self, head: bytes) -> None:
        self._sock = await open_socket(self._address, timeout_s=self._timeout_s)
        self._tuner = _Tuner(self._sock)
        await self._loop.sock_sendall(self._sock, head)

    def start(self) -> None:
        if self._sock is not None:
            self._writing = True
            self._loop.add_writer(self._sock.fileno(), self._on_writable)

    def tune(self, interval_s: float) -> None:
        """At a sample tick: bound the unsent queue to the rate, pick the chunk size."""
        if self._tuner is not None:
            self._tuner.tick(self._body.payload, interval_s)
            self._body.grow(self._tuner.rate)

    @property
    def rate(self) -> float | None:
        """The stream's smoothed rate (acknowledged bytes where known), bytes/s."""
        return None if self._tuner is None else self._tuner.rate

    def _on_writable(self) -> None:
        assert self._sock is not None
        body = self._body
        room = None if self._tuner is None else self._tuner.room()
        limit = len(body.view) if room is None else room
        if limit <= 0:
            return
        try:
            for _ in range(sendpolicy.SENDS_PER_WAKEUP):
                piece = body.next_slice(limit)
                n = self._sock.send(piece)
                body.advance(n)
                if n < len(piece) or room is not None:
                    break  # the kernel took what it had room for: another call would EAGAIN
        except (BlockingIOError, InterruptedError):
            pass
        except OSError as exc:  # the server closed (early answer, cap) or reset
            self.error = exc
            self._stop_writer()

    def _stop_writer(self) -> None:
        if self._writing and self._sock is not None:
            self._writing = False
            self._loop.remove_writer(self._sock.fileno())

    async def finish(self) -> asyncio.Future[Response]:
        """Stop at a chunk boundary, send the last chunk, and start reading the answer."""
        assert self._sock is not None
        self._stop_writer()
        if self.error is None:
            rest = self._body.rest_of_chunk()
            try:
                await self._loop.sock_sendall(self._sock, rest)
                self._body.advance(len(rest))
                await self._loop.sock_sendall(self._sock, LAST_CHUNK)
            except OSError as exc:
                self.error = exc
        # The answer (or an early refusal already waiting in the kernel) is read by the
        # ordinary HTTP protocol on the same socket; the socket stays ours for unacked_bytes().
        _, conn = await self._loop.create_connection(HttpConnection, sock=self._sock)
        self._conn = conn
        self.answer = conn.expect_response()
        return self.answer

    def close(self) -> None:
        self._stop_writer()
        if self._conn is not None:
            self._conn.close()
        elif self._sock is not None:
            self._sock.close()
        self._sock = None


class TransportUploadStream:
    """One upload connection written through an asyncio transport (TLS, or no fast paths)."""

    def __init__(self, address: ServerAddress, timeout_s: float) -> None:
        self._address = address
        self._timeout_s = timeout_s
        self._conn: HttpConnection | None = None
        self._tuner: _Tuner | None = None
        self.error: OSError | None = None
        self.answer: asyncio.Future[Response] | None = None

    @property
    def sent_payload_bytes(self) -> int:
        return 0 if self._conn is None else int(self._conn.body_payload_sent())

    def unacked_bytes(self) -> int | None:
        return None  # not knowable portably; the caller sizes its wait from the buffer limits

    @property
    def rate(self) -> float | None:
        return None if self._tuner is None else self._tuner.rate

    async def open(self, head: bytes) -> None:
        self._conn = await open_connection(self._address, HttpConnection,
                                           timeout_s=self._timeout_s)
        sock = None if self._conn.transport is None else self._conn.transport.get_extra_info(
            "socket")
        self._tuner = _Tuner(sock if isinstance(sock, socket.socket) else None)
        self.answer = self._conn.request(head)

    def start(self) -> None:
        if self._conn is not None:
            self._conn.start_body(_Body())

    def tune(self, interval_s: float) -> None:
        if self._conn is not None and self._tuner is not None:
            self._tuner.tick(self._conn.body_payload_sent(), interval_s)
            self._conn.body_rate(self._tuner.rate)

    async def finish(self) -> asyncio.Future[Response]:
        assert self._conn is not None
        assert self.answer is not None
        self._conn.stop_body(LAST_CHUNK)
        return self.answer

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


UploadStream = RawUploadStream | TransportUploadStream


def upload_stream(address: ServerAddress, timeout_s: float) -> UploadStream:
    """The fastest upload stream this platform and server allow."""
    if address.scheme == "https" or not fastpaths.enabled():
        return TransportUploadStream(address, timeout_s)
    return RawUploadStream(address, timeout_s)
