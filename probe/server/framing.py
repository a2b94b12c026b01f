"""HTTP/1.1 request body framing, counted from raw wire bytes: chunked or Content-Length.

:class:`BodyFraming` is the state machine behind the upload hand-off (:mod:`probe.server.handoff`):
it is fed the bytes after the request head in whatever pieces the socket delivers, counts the
payload, and says where the body ended. It keeps no payload: a data run is skipped with
arithmetic, and only chunk-size and trailer lines are looked at (``find`` and a regex on the
caller's buffer, no copy unless a line spans two reads). No I/O, no clock.

Grammar (RFC 9112 section 7.1): ``chunk-size [BWS ";" ext] CRLF data CRLF`` repeated, then
``0 [ext] CRLF``, optional trailer lines, ``CRLF``. Lines must end in CRLF (a bare LF is an
error, as in aiohttp's strict parser). Limits: a chunk size of at most 16 hex digits, a
size line of at most ``MAX_LINE_BYTES``, trailers of at most ``MAX_TRAILER_BYTES`` in all.
A violation sets :attr:`BodyFraming.error` (one line) and the body is over: the caller answers
400 and closes, as the wire protocol says.
"""

from __future__ import annotations

import re
from typing import Final

MAX_LINE_BYTES: Final = 4096
MAX_TRAILER_BYTES: Final = 8192

_SIZE_LINE: Final = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(?:;[\t\x20-\x7e\x80-\xff]*)?")
_TRAILER_LINE: Final = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+:[\t\x20-\x7e\x80-\xff]*")

# States.
_SIZE, _DATA, _DATA_END, _TRAILER, _DONE = range(5)

Buffer = bytes | bytearray


class BodyFraming:
    """Counts one request body's payload bytes; ``feed`` it the raw bytes after the head.

    ``length`` is the Content-Length; ``None`` means ``Transfer-Encoding: chunked``.
    """

    __slots__ = ("_chunked", "_left", "_line", "_state", "_trailer_bytes", "error",
                 "payload_bytes")

    def __init__(self, length: int | None = None) -> None:
        self._chunked = length is None
        self._state = _SIZE if length is None else (_DATA if length else _DONE)
        self._left = length or 0  # payload bytes left in the current chunk / body
        self._line = bytearray()  # a line that spans reads
        self._trailer_bytes = 0
        self.payload_bytes = 0
        self.error: str | None = None

    @property
    def done(self) -> bool:
        """The body ended (its last byte was fed) or is malformed (``error`` says why)."""
        return self._state == _DONE

    def feed(self, data: Buffer, end: int | None = None) -> int:
        """Consume ``data[:end]``; return how many of those bytes belong to the body.

        Less than ``end`` only once the body is over: the rest belongs to whatever the
        client sent after it.
        """
        end = len(data) if end is None else end
        pos = 0
        state = self._state
        while pos < end and state != _DONE:
            if state == _DATA:
                take = min(self._left, end - pos)
                self._left -= take
                self.payload_bytes += take
                pos += take
                if not self._left:
                    state = _DATA_END if self._chunked else _DONE
                continue
            if state == _DATA_END:  # exactly CRLF; the common case has both bytes here
                if not self._line and end - pos >= 2:
                    if data[pos] != 13 or data[pos + 1] != 10:
                        return self._fail("chunk data not followed by CRLF", pos)
                    pos += 2
                    state = _SIZE
                elif data[pos] != (10 if self._line else 13):
                    return self._fail("chunk data not followed by CRLF", pos)
                elif self._line:
                    pos += 1
                    self._line = bytearray()
                    state = _SIZE
                else:
                    pos += 1
                    self._line = bytearray(b"\r")
                continue
            newline = data.find(b"\n", pos, end)
            if newline < 0:
                self._line += data[pos:end]
                if len(self._line) > self._line_limit(state):
                    return self._fail("chunk line too long", end)
                pos = end
                break
            if self._line:
                self._line += data[pos:newline + 1]
                line: Buffer = self._line
                start, stop = 0, len(line) - 1
            else:
                line, start, stop = data, pos, newline
            if stop - start > self._line_limit(state):
                return self._fail("chunk line too long", newline + 1)
            pos = newline + 1
            if stop == start or line[stop - 1] != 13:
                return self._fail("line does not end in CRLF", pos)
            stop -= 1  # without the CR
            state = self._on_line(state, line, start, stop)
            self._line = bytearray()
            if self.error is not None:
                self._state = _DONE
                return pos
        self._state = state
        return pos

    def _on_line(self, state: int, line: Buffer, start: int, stop: int) -> int:
        if state == _SIZE:
            match = _SIZE_LINE.fullmatch(line, start, stop)
            if match is None:
                self.error = "malformed chunk size line"
                return _DONE
            size = int(match.group(1), 16)
            if size == 0:
                return _TRAILER
            self._left = size
            return _DATA
        # _TRAILER: header fields until the empty line.
        if stop == start:
            return _DONE
        self._trailer_bytes += stop - start + 2
        if self._trailer_bytes > MAX_TRAILER_BYTES:
            self.error = "trailer fields too long"
            return _DONE
        if _TRAILER_LINE.fullmatch(line, start, stop) is None:
            self.error = "malformed trailer field"
            return _DONE
        return _TRAILER

    @staticmethod
    def _line_limit(state: int) -> int:
        return MAX_TRAILER_BYTES if state == _TRAILER else MAX_LINE_BYTES

    def _fail(self, reason: str, pos: int) -> int:
        self.error = reason
        self._state = _DONE
        return pos
