"""Download bodies written straight to the socket: each byte copied once, by the kernel.

Why: ``transport.write()`` of a 1 MiB slice sends what the kernel takes at once and copies the
rest into the transport's ``bytearray``; every later ``send()`` then shifts that buffer
(``del buf[:n]``). In the unshaped lab that user-space copying made the server's download cost
0.27 CPU-s/GB against iperf3's 0.23, and with client and server sharing two cores it cost
throughput too (docs/server.md, "Raw download path"). Here a writer callback calls
``send(view[off:])`` on the random block until the kernel's buffer is full, as the client's
upload streams do: one loop for both, :func:`probe.sendpolicy.send_burst`.

How: after aiohttp has written the response head (``StreamResponse`` sends it at
``prepare()``) and its transport buffer is empty, a duplicate of the connection's socket (a
second descriptor for the same TCP socket, so the event loop lets us watch it while the
transport owns the first) is written directly. aiohttp's writer is left believing the body
unwritten; it checks nothing at the end of a ``Content-Length`` body, so the connection stays
usable for keep-alive. Not used for TLS (the bytes must be encrypted by the transport) or when
the head is still queued; then :func:`probe.server.payload.send_random` writes slices.

What waits unsent follows the same rule as the client's uploads
(:func:`probe.sendpolicy.unsent_bound_bytes`) with ``slow_bounded=False``: fast streams keep
``FAST_UNSENT_BYTES`` unsent, slow ones the kernel's default, since the client aborts a
download at its deadline and nothing waits for what is queued here.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Final

from probe import sendpolicy

SEND_SLICE_BYTES: Final = 1 << 20
TUNE_INTERVAL_S: Final = 0.1


def raw_socket(transport: asyncio.BaseTransport | None) -> socket.socket | None:
    """A duplicate of the transport's plain-TCP socket, or None where raw writes are unsafe."""
    if transport is None or transport.is_closing():
        return None
    if transport.get_extra_info("sslcontext") is not None:
        return None  # TLS: the transport must encrypt
    if not isinstance(transport, asyncio.WriteTransport) or transport.get_write_buffer_size():
        return None  # the head is still queued: raw bytes would overtake it
    sock = transport.get_extra_info("socket")
    if sock is None or sock.type != socket.SOCK_STREAM:
        return None
    dup: socket.socket = sock.dup()
    dup.setblocking(False)
    return dup


class _Repeated:
    """``count`` bytes of ``view``, from its start again whenever it runs out."""

    def __init__(self, view: memoryview, count: int) -> None:
        self._view = view
        self._off = 0
        self.left = count

    def next_slice(self, limit: int) -> memoryview:
        end = self._off + min(self.left, len(self._view) - self._off, limit)
        return self._view[self._off:end]

    def advance(self, sent: int) -> None:
        self.left -= sent
        self._off = (self._off + sent) % len(self._view)


class _RawSender:
    def __init__(self, sock: socket.socket, view: memoryview, count: int) -> None:
        self._loop = asyncio.get_running_loop()
        self._sock = sock
        self._fd = sock.fileno()
        self._source = _Repeated(view, count)
        self._tuned_at = self._loop.time()
        self._tuned_left = count
        self._lowat = 0
        self.done: asyncio.Future[None] = self._loop.create_future()

    def _on_writable(self) -> None:
        source = self._source
        if self.done.done():
            return
        try:
            sendpolicy.send_burst(self._sock.send, source, SEND_SLICE_BYTES)
        except OSError as exc:  # the client closed (its deadline) or reset
            self.done.set_exception(exc)
            return
        if source.left == 0:
            self.done.set_result(None)
            return
        now = self._loop.time()
        if now - self._tuned_at >= TUNE_INTERVAL_S:
            self._tune((self._tuned_left - source.left) / (now - self._tuned_at))
            self._tuned_at, self._tuned_left = now, source.left

    def _tune(self, rate_bytes_per_s: float) -> None:
        want = sendpolicy.unsent_bound_bytes(rate_bytes_per_s, slow_bounded=False)
        if sendpolicy.worth_changing(self._lowat, want):
            # Not on this platform: the stream queues more, as slow streams do. 0 = default.
            with contextlib.suppress(AttributeError, OSError):
                self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT, want)
                self._lowat = want

    async def run(self) -> None:
        if self._source.left == 0:
            return
        self._loop.add_writer(self._fd, self._on_writable)
        try:
            await self.done
        finally:
            self._loop.remove_writer(self._fd)
            # Back to the default, so a kept-alive connection's later answers are not bounded.
            self._tune(0.0)


async def send_raw(sock: socket.socket, view: memoryview, count: int) -> None:
    """Send ``count`` bytes of ``view`` (repeated) on ``sock``, then close the duplicate.

    Raises ``ConnectionError`` (or another ``OSError``) when the client goes away.
    """
    try:
        await _RawSender(sock, view, count).run()
    finally:
        sock.close()  # closes only the duplicate descriptor; the transport keeps its own
