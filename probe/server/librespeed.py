"""LibreSpeed-compatible endpoints, so existing LibreSpeed clients can test against this server.

Mirrors the PHP backend of ``librespeed/speedtest``: ``garbage.php?ckSize=N`` streams N MiB of
random data, ``empty.php`` answers an empty 200 (and swallows upload bodies), ``getIP.php``
names the client address. Each exists at ``/`` and under ``/backend/``. ``cors`` (any value, as
in PHP's ``isset``) adds the CORS headers browsers need for a cross-origin test.

Differences from PHP, on purpose: a malformed ``ckSize`` is a 400 rather than silently 4, the
client address is the socket peer (forwarding headers are spoofable), and no ISP lookup is made
(``rawIspInfo`` is always empty).
"""

from __future__ import annotations

import ipaddress
import json

from aiohttp import hdrs, web

from probe import wire
from probe.server import state
from probe.server.guards import json_error
from probe.server.handlers import NO_STORE, parse_count, send_download
from probe.server.intake import consume_body

CORS_HEADERS: dict[str, str] = {
    hdrs.ACCESS_CONTROL_ALLOW_ORIGIN: "*",
    hdrs.ACCESS_CONTROL_ALLOW_METHODS: "GET, POST",
    hdrs.ACCESS_CONTROL_ALLOW_HEADERS: "Content-Encoding, Content-Type",
}


def _base_headers(request: web.Request) -> dict[str, str]:
    headers = {hdrs.CACHE_CONTROL: NO_STORE, "Pragma": "no-cache"}
    if "cors" in request.query:
        headers.update(CORS_HEADERS)
    return headers


async def garbage(request: web.Request) -> web.StreamResponse:
    chunks = parse_count(request, "ckSize", default=wire.LIBRESPEED_DEFAULT_CHUNKS)
    if not 1 <= chunks <= wire.LIBRESPEED_MAX_CHUNKS:
        raise json_error(
            web.HTTPBadRequest, f"ckSize must be 1..{wire.LIBRESPEED_MAX_CHUNKS}, got {chunks}"
        )
    headers = _base_headers(request)
    headers[hdrs.CONTENT_DISPOSITION] = "attachment; filename=random.dat"
    return await send_download(request, chunks * wire.LIBRESPEED_CHUNK_BYTES, headers)


async def empty(request: web.Request) -> web.Response:
    """200, no body. A POST is LibreSpeed's upload test: its body is read and dropped."""
    if request.can_read_body:
        config = request.app[state.CONFIG]
        with request.app[state.SLOTS].hold(request):
            try:
                await consume_body(
                    request, max_bytes=config.max_transfer_bytes,
                    max_s=config.max_transfer_s, sample=False,
                )
            except (ConnectionError, web.RequestPayloadError):
                raise json_error(web.HTTPBadRequest, "incomplete request body", close=True) \
                    from None
    return web.Response(status=200, headers=_base_headers(request))


def describe_address(ip: str) -> str | None:
    """LibreSpeed's wording for addresses no ISP database knows, else None."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    family = f"IPv{address.version}"
    if address.is_loopback:
        return f"localhost {family} access"
    if address.is_link_local:
        return f"link-local {family} access"
    if address.version == 4 and address in ipaddress.ip_network("100.64.0.0/10"):
        return "CGNAT IPv4 access"
    if address.version == 6 and address in ipaddress.ip_network("fc00::/7"):
        return "ULA IPv6 access"
    if address.is_private:
        return f"private {family} access"
    return None


async def get_ip(request: web.Request) -> web.Response:
    ip = request.remote or ""
    headers = _base_headers(request)
    if request.query.get("isp", "").lower() not in ("", "false", "0"):
        note = describe_address(ip)
        processed = f"{ip} - {note}" if note else ip
        body = json.dumps({"processedString": processed, "rawIspInfo": ""})
        return web.Response(text=body, content_type="application/json", headers=headers)
    return web.Response(text=ip, headers=headers)


async def preflight(request: web.Request) -> web.Response:
    return web.Response(status=204, headers=CORS_HEADERS)


def add_routes(app: web.Application) -> None:
    for prefix in wire.LIBRESPEED_PREFIXES:
        app.router.add_get(prefix + wire.LIBRESPEED_GARBAGE, garbage, allow_head=False)
        app.router.add_get(prefix + wire.LIBRESPEED_EMPTY, empty)
        app.router.add_post(prefix + wire.LIBRESPEED_EMPTY, empty)
        app.router.add_get(prefix + wire.LIBRESPEED_GETIP, get_ip)
        for path in (wire.LIBRESPEED_GARBAGE, wire.LIBRESPEED_EMPTY, wire.LIBRESPEED_GETIP):
            app.router.add_route(hdrs.METH_OPTIONS, prefix + path, preflight)
