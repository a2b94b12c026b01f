"""M-Lab ndt7 endpoints (spec v0.11.0), so ISPs can host the test M-Lab's clients speak.

``GET /ndt/v7/download`` and ``GET /ndt/v7/upload`` upgrade to a WebSocket with subprotocol
``net.measurementlab.ndt.v7`` (a request that does not offer it gets 400). Download: the
server sends binary messages of random bytes, starting at 8 KiB and doubling while a message
is at most 1/16 of what was sent so far (up to :data:`MAX_MESSAGE_BYTES`), for
:data:`TEST_DURATION_S`, then closes. Upload: the server reads the client's binary messages
until it closes (or :data:`MAX_RUNTIME_S`). In both, about every 250 ms (a Poisson interval
bounded to 25-625 ms, as the reference server does) the server sends a JSON text message
``{"AppInfo": {"ElapsedTime": us, "NumBytes": n}, "ConnectionInfo": {...}, "TCPInfo": {...}}``
with the kernel's TCP_INFO (``BytesAcked``, ``BytesReceived``, ``MinRTT`` ... as in Go's
``tcp_info``): the upload rate is ``TCPInfo.BytesReceived / TCPInfo.ElapsedTime``.
Transfers count against the server's slot caps like any other transfer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
import time
import uuid
from typing import Any, Final

from aiohttp import WSMsgType, web

from probe import tcpinfo
from probe.server import state
from probe.server.guards import json_error

SUBPROTOCOL: Final = "net.measurementlab.ndt.v7"
PATH_DOWNLOAD: Final = "/ndt/v7/download"
PATH_UPLOAD: Final = "/ndt/v7/upload"
TEST_DURATION_S: Final = 10.0
MAX_RUNTIME_S: Final = 15.0
FIRST_MESSAGE_BYTES: Final = 1 << 13
MAX_MESSAGE_BYTES: Final = 1 << 20
MEASURE_MEAN_S: Final = 0.25
MEASURE_MIN_S: Final = 0.025
MEASURE_MAX_S: Final = 0.625
MAX_RECEIVE_BYTES: Final = (1 << 24) + 1024

def tcp_info(sock: Any) -> dict[str, int]:
    """The kernel's TCP_INFO as ndt7 names it (times in microseconds); {} where unavailable."""
    try:
        raw = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, tcpinfo.NAMED_LEN)
    except (OSError, AttributeError):
        return {}
    return tcpinfo.named_fields(raw)


def next_interval_s(rng: random.Random) -> float:
    """M-Lab's memoryless measurement ticker: Exp(mean 250 ms) clamped to 25-625 ms."""
    return min(MEASURE_MAX_S, max(MEASURE_MIN_S, rng.expovariate(1.0 / MEASURE_MEAN_S)))


class _Measurer:
    def __init__(self, request: web.Request, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.sock = request.transport.get_extra_info("socket") if request.transport else None
        self.started = time.monotonic()
        peer = request.transport.get_extra_info("peername") if request.transport else None
        local = request.transport.get_extra_info("sockname") if request.transport else None
        self.connection = {
            "Client": _address(peer), "Server": _address(local), "UUID": str(uuid.uuid4())}
        self.app_bytes = 0
        self.rng = random.Random()

    def elapsed_us(self) -> int:
        return int((time.monotonic() - self.started) * 1e6)

    def message(self) -> str:
        elapsed = self.elapsed_us()
        info: dict[str, Any] = tcp_info(self.sock) if self.sock is not None else {}
        if info:
            info["ElapsedTime"] = elapsed
        body: dict[str, Any] = {
            "AppInfo": {"ElapsedTime": elapsed, "NumBytes": self.app_bytes},
            "ConnectionInfo": self.connection, "Origin": "server", "Test": "",
        }
        if info:
            body["TCPInfo"] = info
        return json.dumps(body)

    async def report_until_done(self) -> None:
        while not self.ws.closed:
            await asyncio.sleep(next_interval_s(self.rng))
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.ws.send_str(self.message())


def _address(value: Any) -> str:
    if isinstance(value, tuple) and len(value) >= 2:
        host = f"[{value[0]}]" if ":" in str(value[0]) else str(value[0])
        return f"{host}:{value[1]}"
    return ""


async def _open(request: web.Request) -> web.WebSocketResponse:
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
    if SUBPROTOCOL not in offered:
        raise json_error(web.HTTPBadRequest,
                         f"ndt7 needs the WebSocket subprotocol {SUBPROTOCOL}")
    ws = web.WebSocketResponse(protocols=(SUBPROTOCOL,), max_msg_size=MAX_RECEIVE_BYTES,
                               compress=False, autoping=True)
    await ws.prepare(request)
    return ws


async def download(request: web.Request) -> web.StreamResponse:
    with request.app[state.SLOTS].hold(request):
        ws = await _open(request)
        measurer = _Measurer(request, ws)
        measurer.connection["Test"] = "download"
        reporter = asyncio.create_task(measurer.report_until_done())
        payload = request.app[state.PAYLOAD].view
        size = FIRST_MESSAGE_BYTES
        top = min(MAX_MESSAGE_BYTES, len(payload))
        try:
            while time.monotonic() - measurer.started < TEST_DURATION_S and not ws.closed:
                # A view of the random payload: no copy per message.
                await ws.send_bytes(payload[:size])  # type: ignore[arg-type]
                measurer.app_bytes += size
                if size < top and size <= measurer.app_bytes / 16:
                    size *= 2
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_str(measurer.message())
        except (ConnectionError, RuntimeError):
            pass  # the client went away: its measurement, its loss
        finally:
            reporter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reporter
            await ws.close()
        return ws


async def upload(request: web.Request) -> web.StreamResponse:
    with request.app[state.SLOTS].hold(request):
        ws = await _open(request)
        measurer = _Measurer(request, ws)
        reporter = asyncio.create_task(measurer.report_until_done())
        try:
            async with asyncio.timeout(MAX_RUNTIME_S):
                async for msg in ws:
                    if msg.type == WSMsgType.BINARY:
                        measurer.app_bytes += len(msg.data)
                    elif msg.type == WSMsgType.TEXT:
                        measurer.app_bytes += len(msg.data.encode())
                    elif msg.type == WSMsgType.ERROR:
                        break
        except TimeoutError:
            pass
        finally:
            reporter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reporter
            if not ws.closed:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await ws.send_str(measurer.message())
                await ws.close()
        return ws


def add_routes(app: web.Application) -> None:
    app.router.add_get(PATH_DOWNLOAD, download)
    app.router.add_get(PATH_UPLOAD, upload)
