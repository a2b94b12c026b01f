"""speedtest-cli, used as a library, against ``probe serve``'s legacy Ookla endpoints."""

from __future__ import annotations

import copy
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import pytest
import speedtest

from probe.backends import create
from probe.engine.interface import EngineOptions
from probe.engine.plan import MeasurePlan
from probe.engines.speedtest import LEGACY_CONFIG, SpeedtestEngine, legacy_server
from probe.errors import ServerUnreachable
from probe.server import RunningServer, ServerConfig, start_server
from tests.support import free_port

PLAN = MeasurePlan(duration_s=2.0, connect_timeout_s=5.0)
# speedtest-cli leaves sockets of requests cut off at its deadline for the garbage collector
# (its code, not ours; Python ignores ResourceWarning outside tests).
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


@pytest.fixture
async def probe_server() -> AsyncIterator[RunningServer]:
    server = await start_server(ServerConfig(host="127.0.0.1", port=0))
    try:
        yield server
    finally:
        await server.close()


class TestLegacyEndpoints:
    """What speedtest-cli and Ookla's mini clients expect of a legacy server."""

    async def test_endpoints(self, probe_server: RunningServer) -> None:
        import asyncio

        def fetch(path: str, data: bytes | None = None) -> tuple[int, bytes]:
            with urllib.request.urlopen(probe_server.url + path, data=data, timeout=5) as r:
                return r.status, r.read()

        status, body = await asyncio.to_thread(fetch, "/speedtest/latency.txt")
        assert body.startswith(b"test=test")
        status, body = await asyncio.to_thread(fetch, "/speedtest/random350x350.jpg")
        assert (status, len(body)) == (200, 245_388)
        status, body = await asyncio.to_thread(fetch, "/speedtest/upload.php", b"x" * 1000)
        assert body == b"size=1000"
        with pytest.raises(urllib.error.HTTPError) as info:
            await asyncio.to_thread(fetch, "/speedtest/random351x351.jpg")
        assert info.value.code == 404


class TestAgainstProbeServer:
    async def test_given_server(self, probe_server: RunningServer) -> None:
        engine = create("speedtest", EngineOptions(servers=(probe_server.url,)))
        record = await engine.measure(PLAN)
        assert record.backend == "speedtest"
        assert record.method is not None
        assert record.method.server == probe_server.url + "/speedtest/upload.php"
        assert record.method.streams_down == 8
        assert record.download_mbps is not None
        assert record.download_mbps > 10
        assert record.upload_mbps is not None
        assert record.upload_mbps > 10
        assert record.method.engine_download_mbps is not None
        assert record.method.engine_download_mbps > 0
        assert "upload_counted_at_client" in record.flags
        assert record.latency is not None
        assert any(n.startswith("Ookla legacy trimmed mean (down") for n in record.method.notes)

    async def test_discovery_with_config_and_list_replaced(
            self, probe_server: RunningServer) -> None:
        """No --server: speedtest-cli's own config and server-list path, both replaced here."""
        listed = [legacy_server(f"http://127.0.0.1:{free_port()}", 0),
                  legacy_server(probe_server.url, 1)]

        class Replaced(speedtest.Speedtest):  # type: ignore[misc]
            def get_config(self) -> dict[str, Any]:
                self.config.update(copy.deepcopy(LEGACY_CONFIG))
                self.lat_lon = (0.0, 0.0)
                return self.config  # type: ignore[no-any-return]

            def get_closest_servers(self, limit: int = 5) -> list[dict[str, Any]]:
                self.closest = listed
                return listed

        engine = SpeedtestEngine(EngineOptions(), speedtest_class=Replaced)
        record = await engine.measure(MeasurePlan(duration_s=1.0, directions=("down",)))
        assert record.method is not None
        # The dead server lost the latency.txt race to the live one.
        assert record.method.server == probe_server.url + "/speedtest/upload.php"
        assert record.method.server_selection.startswith("speedtest.net list")

    async def test_no_server_answers(self) -> None:
        engine = create("speedtest", EngineOptions(servers=(f"http://127.0.0.1:{free_port()}",)))
        with pytest.raises(ServerUnreachable, match="refused"):
            await engine.measure(PLAN)


async def test_half_configured_legacy_server() -> None:
    """latency.txt answers, the test images are missing: an error, never a 0 Mbit/s record."""
    from aiohttp import web

    from probe.errors import ProtocolViolation

    async def latency(request: web.Request) -> web.Response:
        return web.Response(text="test=test")

    app = web.Application()
    app.router.add_get("/speedtest/latency.txt", latency)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        engine = create("speedtest", EngineOptions(servers=(f"http://127.0.0.1:{port}",)))
        with pytest.raises(ProtocolViolation, match="no data moved during the download"):
            await engine.measure(MeasurePlan(duration_s=1.0, directions=("down",)))
    finally:
        await runner.cleanup()
