"""Upload bodies: read, count and time-stamp what the server actually received, then drop it.

The count is what the upload rate is computed from (the client's send count overstates it by
whatever sits in socket buffers), so it is taken here, on the server's monotonic clock.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from probe import wire
from probe.server.bodysink import BodySink, socket_arrivals
from probe.server.framing import BodyFraming
from probe.server.guards import json_error
from probe.server.handoff import take_body


@dataclass(slots=True)
class Intake:
    """Cumulative bytes received, sampled at most every ``SERVER_SAMPLE_INTERVAL_S``."""

    received_bytes: int = 0
    samples: list[tuple[float, int]] = field(default_factory=list)
    arrived: list[tuple[float, int]] = field(default_factory=list)
    # Read off aiohttp's parser (probe.server.handoff): the answer must close the connection.
    handed_off: bool = False

    def as_json(self) -> dict[str, object]:
        return wire.UploadAnswer(self.received_bytes, tuple(self.samples),
                                 tuple(self.arrived)).to_json()


async def consume_body(
    request: web.Request, *, max_bytes: int, max_s: float, sample: bool = True,
    track: Callable[[wire.ReceivedTimeline], None] | None = None,
) -> Intake:
    """Read the whole body (chunked or Content-Length) in large pieces, counting bytes.

    ``track`` is handed the body's timeline as soon as it exists, while it still grows (the
    status of an upload in progress, :mod:`probe.server.uploadstatus`).

    Raises 413 (connection closed) past ``max_bytes`` and 408 past ``max_s``; a client that
    disconnects surfaces as ``ConnectionError``.
    """
    declared = request.content_length
    if declared is not None and declared > max_bytes:
        raise json_error(
            web.HTTPRequestEntityTooLarge, f"body of {declared} bytes exceeds the cap of "
            f"{max_bytes} bytes", close=True, fields={wire.FIELD_MAX_BYTES: max_bytes},
            max_size=max_bytes, actual_size=declared,
        )
    claimed = take_body(request)
    if claimed is not None:
        return await _consume_handed_off(request, *claimed, max_bytes=max_bytes, max_s=max_s,
                                         sample=sample, track=track)
    clock = time.monotonic
    timeline = (wire.ReceivedTimeline(clock(), socket_arrivals(request.transport))
                if sample else None)
    if timeline is not None and track is not None:
        track(timeline)
    received = 0
    try:
        async with asyncio.timeout(max_s):
            # iter_any() hands over whatever the protocol has buffered, without re-chunking
            # or joining: the fewest Python-level copies (docs/server.md, "Upload").
            async for chunk in request.content.iter_any():
                before = received
                received += len(chunk)
                if received > max_bytes:
                    raise json_error(
                        web.HTTPRequestEntityTooLarge,
                        f"body exceeds the cap of {max_bytes} bytes", close=True,
                        fields={wire.FIELD_MAX_BYTES: max_bytes},
                        max_size=max_bytes, actual_size=received,
                    )
                if timeline is not None:
                    timeline.read(clock(), before, received)
    except TimeoutError:
        raise json_error(
            web.HTTPRequestTimeout, f"upload exceeded the {max_s:g} s duration cap", close=True,
        ) from None
    if timeline is None:
        return Intake(received)
    timeline.end(clock(), received)
    return Intake(received, timeline.samples, timeline.arrived)


async def _consume_handed_off(
    request: web.Request, held: bytes, framing: BodyFraming, *, max_bytes: int, max_s: float,
    sample: bool, track: Callable[[wire.ReceivedTimeline], None] | None,
) -> Intake:
    """The body read by a :class:`BodySink` on the raw transport; same answers as above."""
    transport = request.transport
    if transport is None:
        raise ConnectionResetError("client went away")
    sink = BodySink(request.protocol, framing, max_bytes=max_bytes, sample=sample,
                    arrivals=socket_arrivals(transport))
    if sink.timeline is not None and track is not None:
        track(sink.timeline)
    try:
        sink.attach(transport, held)
        async with asyncio.timeout(max_s):
            reason = await sink.finished
    except TimeoutError:
        raise json_error(
            web.HTTPRequestTimeout, f"upload exceeded the {max_s:g} s duration cap", close=True,
        ) from None
    finally:
        sink.detach()
    if sink.received_bytes > max_bytes:
        raise json_error(
            web.HTTPRequestEntityTooLarge, f"body exceeds the cap of {max_bytes} bytes",
            close=True, fields={wire.FIELD_MAX_BYTES: max_bytes},
            max_size=max_bytes, actual_size=sink.received_bytes,
        )
    if reason is not None:
        raise json_error(web.HTTPBadRequest, f"malformed request body: {reason}", close=True)
    return Intake(sink.received_bytes, sink.samples or [], sink.arrived, handed_off=True)
