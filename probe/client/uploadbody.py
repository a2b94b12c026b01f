"""The upload body: pre-framed random chunk buffers, and where a stream is in them.

The buffers hold distinct random chunks framed as ``<hex size>\\r\\n<data>\\r\\n`` (chunked
transfer encoding): 4 KiB chunks while a stream is slow (finishing the chunk in flight at the
deadline takes little time even at 0.5 Mbit/s), 64 KiB once it is fast (fewer chunk lines for
the server to parse); one ``send()`` may span many of them. They are generated once per
process, and every upload stream sends slices of them, so no write allocates.
"""

from __future__ import annotations

import os
from typing import Final

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


class FramedBody:
    """Where a stream is in the framed buffers, and how much payload it has handed over.

    A stream starts on the small chunks and moves to the big ones (at a chunk boundary) once
    :meth:`grow` is told it is fast; it never moves back.
    """

    def __init__(self) -> None:
        self.view, self.frame = framed_payload(SMALL_FRAME_PAYLOAD_BYTES)
        self.share = SMALL_FRAME_PAYLOAD_BYTES / self.frame  # payload bytes per framed byte
        self.off = 0
        self.payload = 0.0  # payload bytes handed over so far
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
        """What completes the chunk in flight (empty at a chunk boundary)."""
        return self.view[self.off:self.off + (-self.off) % self.frame]

    def grow(self, rate_bytes_per_s: float | None) -> None:
        """Move to the big chunks at the next boundary once the stream is fast."""
        if not self.big and rate_bytes_per_s is not None:
            self._grow = rate_bytes_per_s > SMALL_FRAME_MAX_BYTES_PER_S
