"""The probe's own endpoints (:mod:`probe.wire`): health, ping, download and upload.

Download and upload share the transfer primitives with the LibreSpeed endpoints
(``send_download`` here, :func:`probe.server.intake.consume_body`).
"""

from __future__ import annotations

import asyncio

from aiohttp import hdrs, web

from probe import __version__, wire
from probe.server import state
from probe.server.guards import json_error
from probe.server.intake import consume_body
from probe.server.payload import abort, send_random

NO_STORE = "no-store, no-cache, must-revalidate, max-age=0"


def parse_count(request: web.Request, name: str, *, default: int | None = None) -> int:
    """A non-negative integer query parameter, or 400 naming the parameter."""
    raw = request.query.get(name)
    if raw is None:
        if default is None:
            raise json_error(web.HTTPBadRequest, f"missing parameter {name}=N")
        return default
    # int() alone would accept " 12", "1_000" and "+5"; a plain digit string is the contract.
    if not raw.isascii() or not raw.isdigit() or len(raw) > 20:
        raise json_error(web.HTTPBadRequest, f"{name} must be a non-negative integer, got {raw!r}")
    return int(raw)


async def send_download(
    request: web.Request, count: int, headers: dict[str, str] | None = None
) -> web.StreamResponse:
    """Answer with ``count`` random bytes under the byte, duration and concurrency caps."""
    config = request.app[state.CONFIG]
    if count > config.max_transfer_bytes:
        raise json_error(
            web.HTTPRequestEntityTooLarge,
            f"{count} bytes requested; this server's cap is {config.max_transfer_bytes}",
            fields={wire.FIELD_MAX_BYTES: config.max_transfer_bytes},
            max_size=config.max_transfer_bytes, actual_size=count,
        )
    with request.app[state.SLOTS].hold(request):
        response = web.StreamResponse(headers=headers)
        response.content_type = "application/octet-stream"
        response.content_length = count
        # identity: a compressing proxy or middleware must never shrink the measured bytes.
        response.headers[hdrs.CONTENT_ENCODING] = "identity"
        response.headers[hdrs.CACHE_CONTROL] = NO_STORE
        try:
            await response.prepare(request)
            async with asyncio.timeout(config.max_transfer_s):
                await send_random(
                    request, response, request.app[state.PAYLOAD], count,
                    use_sendfile=config.use_sendfile,
                )
        except TimeoutError:
            abort(request)  # the duration cap: the body is cut off, never faked complete
        except ConnectionError:
            abort(request)  # the client closed at its deadline: normal, nothing to log
    return response


async def health(request: web.Request) -> web.Response:
    slots = request.app[state.SLOTS]
    config = request.app[state.CONFIG]
    return web.json_response(
        {"status": "ok", "version": __version__, "active_transfers": slots.active,
         "max_transfer_bytes": config.max_transfer_bytes},
        headers={hdrs.CACHE_CONTROL: NO_STORE},
    )


async def ping(request: web.Request) -> web.Response:
    return web.Response(status=204, headers={hdrs.CACHE_CONTROL: NO_STORE})


async def download(request: web.Request) -> web.StreamResponse:
    return await send_download(request, parse_count(request, wire.PARAM_BYTES))


def upload_id(request: web.Request, *, required: bool) -> str | None:
    """The stream's id (``wire.PARAM_UPLOAD_ID``), or 400 if malformed (or missing)."""
    raw = request.query.get(wire.PARAM_UPLOAD_ID)
    if raw is None and not required:
        return None
    if raw is None or not wire.valid_upload_id(raw):
        raise json_error(web.HTTPBadRequest, f"{wire.PARAM_UPLOAD_ID} must be 1-"
                         f"{wire.UPLOAD_ID_MAX_CHARS} of [0-9A-Za-z_-], got {raw!r}", close=True)
    return raw


async def upload(request: web.Request) -> web.StreamResponse:
    config = request.app[state.CONFIG]
    with request.app[state.SLOTS].hold(request), \
            request.app[state.UPLOADS].tracking(upload_id(request, required=False)) as track:
        try:
            intake = await consume_body(
                request, max_bytes=config.max_transfer_bytes, max_s=config.max_transfer_s,
                track=track,
            )
        except ConnectionError:
            # The client vanished mid-body: nobody is left to answer.
            abort(request)
            return web.Response(status=400)
        except web.RequestPayloadError:
            raise json_error(web.HTTPBadRequest, "malformed request body", close=True) from None
    response = web.json_response(intake.as_json(), headers={hdrs.CACHE_CONTROL: NO_STORE})
    if intake.handed_off:
        response.force_close()  # aiohttp's parser never saw the body's end (handoff.py)
    return response


async def upload_status(request: web.Request) -> web.Response:
    """An upload in progress so far (``partial``), for a client whose answer is late."""
    wanted = str(upload_id(request, required=True))
    status = request.app[state.UPLOADS].so_far(wanted)
    if status is None:
        # The id echoed: a client tells this from an older server's 404 (no such path) and
        # may ask again on a fresh connection, which may reach another --workers process.
        raise json_error(web.HTTPNotFound, "no upload in progress with this id here",
                         fields={wire.PARAM_UPLOAD_ID: wanted})
    return web.json_response(status.to_json(), headers={hdrs.CACHE_CONTROL: NO_STORE})


def add_routes(app: web.Application) -> None:
    app.router.add_get(wire.PATH_HEALTH, health)
    app.router.add_get(wire.PATH_PING, ping)
    # No HEAD: with --sendfile the body bypasses aiohttp's writer, and a HEAD answer has none.
    app.router.add_get(wire.PATH_DOWNLOAD, download, allow_head=False)
    app.router.add_post(wire.PATH_UPLOAD, upload)
    app.router.add_put(wire.PATH_UPLOAD, upload)
    app.router.add_get(wire.PATH_UPLOAD_STATUS, upload_status, allow_head=False)
