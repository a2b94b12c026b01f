"""Taking an upload's connection over from aiohttp: the request head is aiohttp's, the body ours.

Why: reading ``/upload`` through aiohttp (``request.content.iter_any()``) costs 2-4x the CPU per
GB of iperf3's receiver, because every ``recv()`` allocates a new ``bytes`` and the HTTP parser
copies it again into the payload stream (docs/server.md, "Performance"). The body is read by a
:class:`~probe.server.bodysink.BodySink` instead; this module only hands the connection over
and back.

How, in three steps:

1. :class:`HandoffRequestHandler` (aiohttp's connection protocol, made by :class:`HandoffRunner`)
   watches only the *first* request head of a connection. If it is ``POST|PUT /upload``
   (HTTP/1.1, every line ending in CRLF), aiohttp is fed exactly the head; the bytes after it
   are held back and the socket's reading is paused, so aiohttp's parser never sees the body.
2. The upload handler claims them with :func:`take_body` and (``probe.server.intake``) swaps
   the transport's protocol for a ``BodySink``, feeds it the held bytes, resumes reading, and
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

import re
from typing import Any, Final

from aiohttp import hdrs, web
from aiohttp.web_protocol import RequestHandler

from probe import wire
from probe.server.framing import BodyFraming

MAX_WATCHED_HEAD_BYTES: Final = 16 * 1024
_UPLOAD_LINE: Final = re.compile(
    rb"(?:POST|PUT) " + re.escape(wire.PATH_UPLOAD.encode()) + rb"(?:\?[^ \r\n]*)? HTTP/1\.1\r\n"
)
_UPLOAD_PREFIXES: Final = tuple(
    method + b" " + wire.PATH_UPLOAD.encode() for method in (b"POST", b"PUT")
)


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
