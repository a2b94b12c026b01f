"""Upload streams: the interface the upload direction drives, the choice, and the raw path.

Why raw sockets: writing 1 MiB pieces through an asyncio transport copies every byte the
kernel does not take at once into the transport's buffer; profiled on loopback that
``bytearray.extend`` cost as much CPU as ``send()`` itself (docs/measurement.md, "Client hot
path"). :class:`RawUploadStream` has a writer callback call ``socket.send(view[off:])`` on a
slice of the pre-framed body (:mod:`probe.client.uploadbody`) until the kernel's buffer is
full, so each byte is copied once, by the kernel, as iperf3 does. At the deadline the current
chunk is completed, the last chunk sent, and the socket is handed to an
:class:`HttpConnection` transport to read the server's answer (what it received, and when).
For ``https://`` servers and where the fast paths are off (:mod:`probe.client.fastpaths`)
:func:`upload_stream` picks :class:`~probe.client.transportupload.TransportUploadStream`
instead, which writes through the transport.

Both keep only as much unsent as the stream's rate needs (:mod:`probe.client.unsent`, the
shared rule :mod:`probe.sendpolicy`), so a slow line's upload ends soon after its deadline.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Protocol

from probe import sendpolicy
from probe.client import fastpaths
from probe.client.connect import ServerAddress, open_socket
from probe.client.http1 import HttpConnection
from probe.client.responses import Response
from probe.client.transportupload import TransportUploadStream
from probe.client.unsent import UnsentBound
from probe.client.uploadbody import LAST_CHUNK, FramedBody


class UploadStream(Protocol):
    """One ``POST /upload`` connection: open, start, tune at each tick, finish, close.

    ``error`` is set when the server closed or reset the stream early; ``finish()`` sends the
    last chunk and returns the future of the server's answer.
    """

    error: OSError | None

    @property
    def sent_payload_bytes(self) -> int:
        """Payload bytes handed to the kernel so far."""

    @property
    def rate(self) -> float | None:
        """The stream's smoothed rate in bytes/s (acknowledged bytes where known)."""

    def unacked_bytes(self) -> int | None:
        """Bytes the kernel still holds for this stream (unsent + unacknowledged), if known."""

    def unsent_bytes(self) -> int:
        """Bytes handed over but not yet sent: in user space, and the kernel's unsent queue
        (its bound where the kernel cannot be asked)."""

    def losses_seen(self) -> bool | None:
        """Whether the kernel retransmitted a segment of this stream so far (None: unknown)."""

    async def open(self, head: bytes) -> None: ...
    def start(self) -> None: ...
    def tune(self, interval_s: float) -> None: ...
    async def finish(self) -> asyncio.Future[Response]: ...
    def close(self) -> None: ...


class RawUploadStream:
    """One upload connection written by a writer callback on the raw socket (Linux fast path).

    ``sent_payload_bytes`` is what the kernel has accepted.
    """

    def __init__(self, address: ServerAddress, timeout_s: float) -> None:
        self._address = address
        self._timeout_s = timeout_s
        self._loop = asyncio.get_running_loop()
        self._body = FramedBody()
        self._sock: socket.socket | None = None
        self._bound: UnsentBound | None = None
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

    def losses_seen(self) -> bool | None:
        return None if self._sock is None else fastpaths.losses_seen(self._sock)

    def unsent_bytes(self) -> int:
        known = None if self._sock is None else fastpaths.unsent_bytes(self._sock)
        if known is not None:
            return known
        return 0 if self._bound is None else self._bound.bound_bytes

    async def open(self, head: bytes) -> None:
        self._sock = await open_socket(self._address, timeout_s=self._timeout_s)
        self._bound = UnsentBound(self._sock)
        await self._loop.sock_sendall(self._sock, head)

    def start(self) -> None:
        if self._sock is not None:
            self._writing = True
            self._loop.add_writer(self._sock.fileno(), self._on_writable)

    def tune(self, interval_s: float) -> None:
        """At a sample tick: bound the unsent queue to the rate, pick the chunk size."""
        if self._bound is not None:
            self._bound.tick(self._body.payload, interval_s)
            self._body.grow(self._bound.rate)

    @property
    def rate(self) -> float | None:
        """The stream's smoothed rate (acknowledged bytes where known), bytes/s."""
        return None if self._bound is None else self._bound.rate

    def _on_writable(self) -> None:
        assert self._sock is not None
        body = self._body
        room = None if self._bound is None else self._bound.room()
        limit = len(body.view) if room is None else room
        if limit <= 0:
            return
        try:
            sendpolicy.send_burst(self._sock.send, body, limit, single=room is not None)
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



def upload_stream(address: ServerAddress, timeout_s: float) -> UploadStream:
    """The fastest upload stream this platform and server allow."""
    if address.scheme == "https" or not fastpaths.enabled():
        return TransportUploadStream(address, timeout_s)
    return RawUploadStream(address, timeout_s)
