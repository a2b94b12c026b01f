"""The ndt7 client against ``probe serve``'s ndt7 endpoints; Locate back-off; consent."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from probe.backends import create
from probe.engine.interface import EngineOptions
from probe.engine.plan import MeasurePlan
from probe.engines import locate
from probe.engines.ndt7 import SUBPROTOCOL, endpoint_urls
from probe.errors import ProtocolViolation, ServerUnreachable, UsageError
from probe.server import RunningServer, ServerConfig, start_server

PLAN = MeasurePlan(duration_s=2.0, connect_timeout_s=5.0)


@pytest.fixture
async def probe_server() -> AsyncIterator[RunningServer]:
    server = await start_server(ServerConfig(host="127.0.0.1", port=0))
    try:
        yield server
    finally:
        await server.close()


async def stub(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


class TestAgainstProbeServer:
    async def test_both_directions(self, probe_server: RunningServer) -> None:
        record = await create("ndt7", EngineOptions(servers=(probe_server.url,))).measure(PLAN)
        assert record.backend == "ndt7"
        assert record.method is not None
        assert (record.method.streams_down, record.method.streams_up) == (1, 1)
        assert record.method.quantity == "websocket_payload"
        assert record.download_mbps is not None
        assert record.download_mbps > 10
        assert record.upload is not None
        # Upload is what the server's TCP_INFO says it received, not what the client sent.
        assert record.upload.counted_at == "server"
        assert record.method.engine_upload_mbps is not None
        assert record.method.engine_upload_mbps > 10
        # Loopback is CPU-bound, not a line: the steadiness and client-CPU flags may fire
        # there (they are the measurement's honest caveats); nothing about the protocol may.
        assert set(record.flags) <= {"client_cpu_limited", "unsteady"}

    async def test_server_refuses_without_subprotocol(self, probe_server: RunningServer) -> None:
        async with aiohttp.ClientSession() as client:
            down, _ = endpoint_urls(probe_server.url)
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await client.ws_connect(down)
            assert info.value.status == 400

    async def test_server_measurements(self, probe_server: RunningServer) -> None:
        """The server's JSON messages carry AppInfo and the kernel's TCPInfo."""
        async with aiohttp.ClientSession() as client:
            _, up = endpoint_urls(probe_server.url)
            ws = await client.ws_connect(up, protocols=(SUBPROTOCOL,))
            for _ in range(50):
                await ws.send_bytes(b"x" * 65536)
            msg = await ws.receive(timeout=5)
            await ws.close()
        body = json.loads(msg.data)
        assert body["TCPInfo"]["BytesReceived"] > 0
        assert body["TCPInfo"]["ElapsedTime"] > 0
        assert "NumBytes" in body["AppInfo"]


class TestConsent:
    def test_mlab_needs_consent(self) -> None:
        with pytest.raises(UsageError, match="publishes every test result"):
            create("ndt7", EngineOptions())
        with pytest.raises(UsageError, match="--consent-mlab"):
            create("ndt7", EngineOptions(servers=("wss://ndt-mlab1-lga01.measurementlab.net",)))

    def test_self_hosted_needs_none(self) -> None:
        create("ndt7", EngineOptions(servers=("ws://198.18.0.1:8080",)))


class TestLocate:
    def test_backoff_schedule(self) -> None:
        delays = locate.backoff_delays_s(random.Random(1))
        got = [next(delays) for _ in range(7)]
        for value, nominal in zip(got, [60, 120, 240, 480, 960, 960, 960], strict=True):
            assert nominal * 0.5 <= value <= nominal * 1.5

    async def test_backs_off_on_no_capacity_then_measures(
            self, probe_server: RunningServer) -> None:
        answers = [204, 204, 200]
        down, up = endpoint_urls(probe_server.url)

        async def nearest(request: web.Request) -> web.Response:
            status = answers.pop(0)
            if status != 200:
                return web.Response(status=status)
            return web.json_response({"results": [{
                "machine": "mlab1-test", "location": {"city": "Here", "country": "XX"},
                "urls": {locate.KEY_DOWNLOAD: down + "?access_token=t",
                         locate.KEY_UPLOAD: up + "?access_token=t"}}]})

        app = web.Application()
        app.router.add_get(locate.NEAREST_PATH, nearest)
        slept: list[float] = []

        async def fake_sleep(s: float) -> None:
            slept.append(s)

        async for url in stub(app):
            targets = await locate.nearest(url, timeout_s=5, max_wait_s=1e9, sleep=fake_sleep,
                                           rng=random.Random(0))
            assert targets[0].machine == "mlab1-test"
            assert len(slept) == 2
            assert 30 <= slept[0] <= 90
            assert 60 <= slept[1] <= 180
            answers[:] = [200]
            record = await create("ndt7", EngineOptions(consent=True, locate_url=url)).measure(
                MeasurePlan(duration_s=1.0, directions=("down",)))
            assert record.method is not None
            assert record.method.server == "mlab1-test (Here, XX)"
            assert record.method.server_selection.startswith("M-Lab Locate")

    async def test_gives_up_past_max_wait(self) -> None:
        app = web.Application()
        app.router.add_get(locate.NEAREST_PATH, _no_capacity)

        async for url in stub(app):
            with pytest.raises(ServerUnreachable, match="no capacity"):
                await locate.nearest(url, timeout_s=5, max_wait_s=10, sleep=asyncio.sleep)


async def _no_capacity(request: web.Request) -> web.Response:
    return web.Response(status=204)


class TestErrors:
    async def test_not_an_ndt7_server(self) -> None:
        app = web.Application()
        async for url in stub(app):
            with pytest.raises(ProtocolViolation, match="refused the ndt7 WebSocket"):
                await create("ndt7", EngineOptions(servers=(url,))).measure(PLAN)

    async def test_garbage_measurement(self) -> None:
        async def bad(request: web.Request) -> web.WebSocketResponse:
            ws = web.WebSocketResponse(protocols=(SUBPROTOCOL,))
            await ws.prepare(request)
            await ws.send_str("this is not JSON")
            await asyncio.sleep(1)
            await ws.close()
            return ws

        app = web.Application()
        app.router.add_get("/ndt/v7/download", bad)
        async for url in stub(app):
            with pytest.raises(ProtocolViolation, match="not JSON"):
                await create("ndt7", EngineOptions(servers=(url,))).measure(PLAN)

    async def test_refused(self) -> None:
        from tests.support import free_port

        with pytest.raises(ServerUnreachable, match="refused"):
            await create("ndt7", EngineOptions(
                servers=(f"ws://127.0.0.1:{free_port()}",))).measure(PLAN)
