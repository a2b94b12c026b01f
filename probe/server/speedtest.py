"""Ookla's legacy HTTP test endpoints, so speedtest-cli (and old Ookla "mini" clients) can test
against this server.

``GET /speedtest/random{N}x{N}.jpg`` sends as many random bytes as Ookla's file of that name
holds (N in :data:`probe.wire.SPEEDTEST_IMAGE_BYTES`; 404 otherwise); ``POST
/speedtest/upload.php`` reads and drops the body and answers ``size=<bytes received>``; ``GET
/speedtest/latency.txt`` answers ``test=test`` (speedtest-cli checks those 9 bytes). A
``GET /speedtest/upload.php`` answers ``size=0`` so a "mini" server probe recognises it.
"""

from __future__ import annotations

from aiohttp import hdrs, web

from probe import wire
from probe.server import state
from probe.server.guards import json_error
from probe.server.handlers import NO_STORE, send_download
from probe.server.intake import consume_body

HEADERS: dict[str, str] = {hdrs.CACHE_CONTROL: NO_STORE}


async def image(request: web.Request) -> web.StreamResponse:
    size = request.match_info["size"]
    side = int(size) if size.isdigit() else -1
    count = wire.SPEEDTEST_IMAGE_BYTES.get(side)
    if count is None or request.match_info["size2"] != size:
        raise json_error(web.HTTPNotFound, f"no such test image: random{size}x"
                         f"{request.match_info['size2']}.jpg")
    return await send_download(request, count, {**HEADERS, hdrs.CONTENT_TYPE: "image/jpeg"})


async def upload(request: web.Request) -> web.Response:
    received = 0
    if request.can_read_body:
        config = request.app[state.CONFIG]
        with request.app[state.SLOTS].hold(request):
            try:
                intake = await consume_body(request, max_bytes=config.max_transfer_bytes,
                                            max_s=config.max_transfer_s, sample=False)
            except (ConnectionError, web.RequestPayloadError):
                raise json_error(web.HTTPBadRequest, "incomplete request body", close=True) \
                    from None
            received = intake.received_bytes
    return web.Response(text=f"size={received}", headers=HEADERS)


async def latency(request: web.Request) -> web.Response:
    return web.Response(text="test=test\n", headers=HEADERS)


def add_routes(app: web.Application) -> None:
    prefix = wire.SPEEDTEST_PREFIX
    app.router.add_get(prefix + r"/random{size:\d+}x{size2:\d+}.jpg", image, allow_head=False)
    app.router.add_post(prefix + "/upload.php", upload)
    app.router.add_get(prefix + "/upload.php", upload)
    app.router.add_get(prefix + "/latency.txt", latency)
