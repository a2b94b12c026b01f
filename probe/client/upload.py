"""Upload streams: a chunked ``POST /upload`` body written from one pre-framed random buffer.

Why raw sockets: writing 1 MiB pieces through an asyncio transport copies every byte the
kernel does not take at once into the transport's buffer; profiled on loopback that
``bytearray.extend`` cost as much CPU as ``send()`` itself (docs/measurement.md, "Client hot
path"). Here a writer callback calls ``socket.send(view[off:])`` on a slice of the pre-framed
buffer until the kernel's buffer is full, so each byte is copied once, by the kernel, as iperf3
does; for fast streams ``TCP_NOTSENT_LOWAT`` keeps its unsent part small (``NOTSENT_LOWAT_BYTES``).
At the deadline the current chunk is completed, the last chunk sent, and the socket is handed
to an :class:`HttpConnection` transport to read the server's answer (what it received, and
when). ``https://`` servers use the transport path (TLS must encrypt in user space anyway).

The buffer holds ``FRAMES`` distinct random chunks of ``FRAME_PAYLOAD_BYTES`` each framed as
``<hex size>\\r\\n<data>\\r\\n``; chunks are small so that finishing the current one at the
deadline takes little time even on a slow line, while one ``send()`` may span many of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from typing import Final

from probe.client.connect import ServerAddress, open_connection, open_socket
from probe.client.http1 import HttpConnection, Response

FRAME_PAYLOAD_BYTES: Final = 64 * 1024
FRAMES: Final = 64  # 4 MiB of distinct random payload, repeated
SENDS_PER_WAKEUP: Final = 8  # bounded so the sampler and pinger keep their ticks
# At most this many bytes wait unsent in each socket (TCP_NOTSENT_LOWAT; in-flight bytes are not
# limited, so neither is the window). Left alone, autotuning lets up to 4 MB queue unsent and the
# stream is woken only once a third of that is free; perf then showed the client's CPU doing the
# TCP transmission and ACK work that iperf3's client leaves to the other core. Unshaped lab
# (docs/measurement.md, "Upload CPU"): unbounded 20-30 Gbit/s at 0.24-0.31 client CPU-s/GB;
# 256 KiB 34-42 at 0.19-0.25; 128 KiB 38-56 at 0.16-0.25; iperf3 31-37 at 0.21-0.26. 256 KiB, not
# 128, keeps ~8 ms of a 250 Mbit/s stream queued, so a short event-loop pause starves no line.
# Unlike SO_SNDBUF, this leaves send-buffer autotuning on. Only fast streams are bounded (set at
# each sample tick from the stream's rate): at 100 Mbit/s the bound cost ~20 % more client CPU
# per GB in wake-ups (1.9 vs 1.6 s/GB) and bought nothing, as the CPU is not the limit there.
NOTSENT_LOWAT_BYTES: Final = 256 * 1024
FAST_STREAM_BYTES_PER_S: Final = 250_000_000  # 2 Gbit/s per stream
LAST_CHUNK: Final = b"0\r\n\r\n"

_payload: tuple[memoryview, int] | None = None


def framed_payload() -> tuple[memoryview, int]:
    """The pre-framed buffer and the size of one framed chunk (generated once per process)."""
    global _payload  # noqa: PLW0603 - one random buffer per process, made on first use
    if _payload is None:
        header = b"%x\r\n" % FRAME_PAYLOAD_BYTES
        frame = len(header) + FRAME_PAYLOAD_BYTES + 2
        buffer = bytearray()
        for _ in range(FRAMES):
            buffer += header + os.urandom(FRAME_PAYLOAD_BYTES) + b"\r\n"
        _payload = (memoryview(bytes(buffer)), frame)
    return _payload


class UploadStream:
    """One upload connection; ``sent_payload_bytes`` is what the kernel has accepted."""

    def __init__(self, address: ServerAddress, timeout_s: float) -> None:
        self._address = address
        self._timeout_s = timeout_s
        self._loop = asyncio.get_running_loop()
        self._view, self._frame = framed_payload()
        self._off = 0
        self._sent = 0
        self._tuned_sent = 0
        self._notsent_lowat = 0
        self._sock: socket.socket | None = None
        self._conn: HttpConnection | None = None
        self._tls = address.scheme == "https"
        self._writing = False
        self.error: OSError | None = None
        self.answer: asyncio.Future[Response] | None = None

    @property
    def sent_payload_bytes(self) -> int:
        if self._tls:  # what the transport handed to the kernel
            return self._conn.body_sent() if self._conn is not None else 0
        return self._sent * FRAME_PAYLOAD_BYTES // self._frame

    async def open(self, head: bytes) -> None:
        if self._tls:
            self._conn = await open_connection(self._address, HttpConnection,
                                               timeout_s=self._timeout_s)
            self.answer = self._conn.request(head)
            return
        self._sock = await open_socket(self._address, timeout_s=self._timeout_s)
        await self._loop.sock_sendall(self._sock, head)

    def start(self) -> None:
        if self._conn is not None:
            self._conn.start_body(self._view, slice_bytes=16 * self._frame,
                                  payload_share=FRAME_PAYLOAD_BYTES / self._frame)
        elif self._sock is not None:
            self._writing = True
            self._loop.add_writer(self._sock.fileno(), self._on_writable)

    def tune(self, interval_s: float) -> None:
        """Bound the unsent queue while the stream is fast (see ``NOTSENT_LOWAT_BYTES``)."""
        moved = self._sent - self._tuned_sent
        self._tuned_sent = self._sent
        if self._sock is None or interval_s <= 0:
            return
        # 0 restores the system default (unbounded).
        want = NOTSENT_LOWAT_BYTES if moved / interval_s >= FAST_STREAM_BYTES_PER_S else 0
        if want != self._notsent_lowat:
            # Not on this platform: the stream simply queues more, as slow streams do.
            with contextlib.suppress(AttributeError, OSError):
                self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT, want)
                self._notsent_lowat = want

    def _on_writable(self) -> None:
        assert self._sock is not None
        view, off, size = self._view, self._off, len(self._view)
        try:
            for _ in range(SENDS_PER_WAKEUP):
                want = size - off
                n = self._sock.send(view[off:])
                self._sent += n
                off += n
                if off == size:
                    off = 0
                elif n < want:
                    break  # the kernel took what it had room for: another call would EAGAIN
        except (BlockingIOError, InterruptedError):
            pass
        except OSError as exc:  # the server closed (early answer, cap) or reset
            self.error = exc
            self._stop_writer()
        self._off = off

    def _stop_writer(self) -> None:
        if self._writing and self._sock is not None:
            self._writing = False
            self._loop.remove_writer(self._sock.fileno())

    async def finish(self) -> asyncio.Future[Response]:
        """Stop at a chunk boundary, send the last chunk, and start reading the answer."""
        if self._tls and self._conn is not None:
            self._conn.stop_body(LAST_CHUNK)
            assert self.answer is not None
            return self.answer
        assert self._sock is not None
        self._stop_writer()
        if self.error is None:
            rest = (-self._off) % self._frame
            try:
                await self._loop.sock_sendall(self._sock, self._view[self._off:self._off + rest])
                self._sent += rest
                await self._loop.sock_sendall(self._sock, LAST_CHUNK)
            except OSError as exc:
                self.error = exc
        # The answer (or an early refusal already waiting in the kernel) is read by the
        # ordinary HTTP protocol on the same socket.
        _, conn = await self._loop.create_connection(HttpConnection, sock=self._sock)
        self._sock = None
        self._conn = conn
        self.answer = conn.expect_response()
        return self.answer

    def close(self) -> None:
        self._stop_writer()
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._conn is not None:
            self._conn.close()
