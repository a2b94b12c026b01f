"""Upload streams written through an asyncio transport: TLS, and the portable path.

For ``https://`` servers the bytes must be encrypted in user space anyway, and where the
Linux fast paths are off (:mod:`probe.client.fastpaths`: macOS, Windows' Proactor loop,
``PROBE_PORTABLE=1``) there is no ``add_writer`` on the raw socket. Then an
:class:`UploadConnection` (the client's HTTP connection plus a body pump) writes slices of the
framed body with ``transport.write()`` while the transport is not paused, and keeps what
waits in asyncio's write buffer to the same unsent-queue rule as the kernel's
(:mod:`probe.sendpolicy`), so a slow line's upload still ends soon after its deadline.
"""

from __future__ import annotations

import asyncio
from typing import Final

from probe import sendpolicy
from probe.client.connect import ServerAddress, open_connection
from probe.client.fastpaths import SocketLike
from probe.client.http1 import HttpConnection
from probe.client.responses import Response
from probe.client.unsent import UnsentBound
from probe.client.uploadbody import LAST_CHUNK, FramedBody

MAX_BODY_SLICE_BYTES: Final = 1 << 20  # one transport.write() of a streamed request body
WRITES_PER_TURN: Final = 4  # then yield to the loop, so the sampler keeps its ticks


def _slice_bytes(bound_bytes: int) -> int:
    """One write, and asyncio's high mark: half the unsent bound. asyncio flushes its whole
    buffer in one ``send()``, which the kernel takes whenever its unsent queue is below the
    bound, so what waits unsent overall stays near the bound plus two slices."""
    return min(MAX_BODY_SLICE_BYTES, max(sendpolicy.MIN_UNSENT_BYTES, bound_bytes // 2))


class UploadConnection(HttpConnection):
    """An HTTP connection that streams a framed request body until told to stop."""

    def __init__(self) -> None:
        super().__init__()
        self._write_paused = False
        self._body: FramedBody | None = None  # while being written
        self._sent_body: FramedBody | None = None  # after stop_body()
        self._slice = 0

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._body is not None:
            self._loop.call_soon(self._pump)

    def connection_lost(self, exc: Exception | None) -> None:
        self._body = None
        self._write_paused = False
        super().connection_lost(exc)

    def start_body(self, body: FramedBody) -> None:
        """Write ``body``'s framed chunks over and over until :meth:`stop_body`."""
        assert self.transport is not None
        self._body = body
        self._slice = _slice_bytes(sendpolicy.unsent_bound_bytes(None))
        self.transport.set_write_buffer_limits(high=self._slice, low=0)
        self._pump()

    def body_rate(self, rate_bytes_per_s: float | None) -> None:
        """At a sample tick: what waits in asyncio's buffer follows the unsent-queue rule too."""
        if self._body is None or self.transport is None:
            return
        self._body.grow(rate_bytes_per_s)
        want = _slice_bytes(sendpolicy.unsent_bound_bytes(rate_bytes_per_s))
        if sendpolicy.worth_changing(self._slice, want):
            self._slice = want
            self.transport.set_write_buffer_limits(high=want, low=0)

    def _pump(self) -> None:
        body = self._body
        if body is None or self.transport is None:
            return
        for _ in range(WRITES_PER_TURN):
            if self._write_paused or self.transport.is_closing():
                return
            piece = body.next_slice(self._slice)
            self.transport.write(piece)
            body.advance(len(piece))
        self._loop.call_soon(self._pump)

    def stop_body(self, trailer: bytes) -> None:
        """Finish the chunk in flight and send ``trailer`` (the last chunk)."""
        body, self._body = self._body, None
        if self.transport is not None and not self.transport.is_closing():
            if body is not None:
                rest = body.rest_of_chunk()
                self.transport.write(rest)
                body.advance(len(rest))
            self.transport.write(trailer)
        self._sent_body = body

    def body_payload_sent(self) -> float:
        """Payload bytes handed to the kernel (written minus what waits in asyncio's buffer)."""
        body = self._body or self._sent_body
        if self.transport is None or body is None:
            return 0.0
        pending = self.transport.get_write_buffer_size()
        return max(0.0, body.payload - pending * body.share)


class TransportUploadStream:
    """One upload connection written through an asyncio transport (TLS, or no fast paths)."""

    def __init__(self, address: ServerAddress, timeout_s: float) -> None:
        self._address = address
        self._timeout_s = timeout_s
        self._conn: UploadConnection | None = None
        self._bound: UnsentBound | None = None
        self.error: OSError | None = None
        self.answer: asyncio.Future[Response] | None = None

    @property
    def sent_payload_bytes(self) -> int:
        return 0 if self._conn is None else int(self._conn.body_payload_sent())

    def unacked_bytes(self) -> int | None:
        return None  # not knowable portably; the caller sizes its wait from the buffer limits

    def losses_seen(self) -> bool | None:
        return None if self._conn is None else self._conn.losses_seen()

    def unsent_bytes(self) -> int:
        transport = None if self._conn is None else self._conn.transport
        buffered = 0 if transport is None else transport.get_write_buffer_size()
        # The kernel takes a whole flush of asyncio's buffer (see _slice_bytes) whenever its
        # unsent queue is below the bound: it holds up to about twice the bound.
        return buffered + 2 * (0 if self._bound is None else self._bound.bound_bytes)

    @property
    def rate(self) -> float | None:
        return None if self._bound is None else self._bound.rate

    async def open(self, head: bytes) -> None:
        self._conn = await open_connection(self._address, UploadConnection,
                                           timeout_s=self._timeout_s)
        transport = self._conn.transport
        sock = None if transport is None else transport.get_extra_info("socket")
        # asyncio hands out a TransportSocket (setsockopt and fileno, no I/O), not the socket:
        # checking for socket.socket alone left the unsent queue unbounded on this path.
        self._bound = UnsentBound(sock if isinstance(sock, SocketLike) else None)
        self.answer = self._conn.request(head)

    def start(self) -> None:
        if self._conn is not None:
            self._conn.start_body(FramedBody())

    def tune(self, interval_s: float) -> None:
        if self._conn is not None and self._bound is not None:
            self._bound.tick(self._conn.body_payload_sent(), interval_s)
            self._conn.body_rate(self._bound.rate)

    async def finish(self) -> asyncio.Future[Response]:
        assert self._conn is not None
        assert self.answer is not None
        self._conn.stop_body(LAST_CHUNK)
        return self.answer

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
