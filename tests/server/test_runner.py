"""``start_server`` runs a real server inside the caller's loop, as ``probe demo`` needs."""

from __future__ import annotations

import socket

import aiohttp
import pytest

from probe import wire
from probe.errors import ConfigError, ProbeError
from probe.server import ServerConfig, start_server


class TestStartServer:
    """An in-process server binds a free loopback port, serves, and releases it on close."""

    async def test_serves_on_a_free_port_then_closes(self) -> None:
        server = await start_server(ServerConfig(port=0))
        try:
            assert server.port > 0
            assert server.url == f"http://127.0.0.1:{server.port}"
            async with aiohttp.ClientSession() as session:
                async with session.get(server.url + wire.PATH_HEALTH) as resp:
                    assert (await resp.json())["status"] == "ok"
                params = {wire.PARAM_BYTES: "5000000"}
                async with session.get(server.url + wire.PATH_DOWNLOAD, params=params) as resp:
                    assert len(await resp.read()) == 5_000_000
        finally:
            await server.close()
        with pytest.raises(aiohttp.ClientConnectionError):
            async with aiohttp.ClientSession() as session:
                await session.get(server.url + wire.PATH_PING)

    async def test_busy_port_is_a_probe_error(self) -> None:
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            port = busy.getsockname()[1]
            with pytest.raises(ProbeError, match="address already in use"):
                await start_server(ServerConfig(port=port))

    async def test_ipv6_url_has_brackets(self) -> None:
        if not socket.has_ipv6:
            pytest.skip("no IPv6 on this host")
        try:
            server = await start_server(ServerConfig(host="::1", port=0))
        except ProbeError as exc:
            pytest.skip(f"no IPv6 loopback: {exc}")
        try:
            assert server.url == f"http://[::1]:{server.port}"
        finally:
            await server.close()


class TestServerConfig:
    """Impossible settings are refused when the value is built."""

    @pytest.mark.parametrize("fields", [
        {"port": 70000}, {"max_transfer_bytes": 0}, {"max_transfer_s": 0.0},
        {"max_transfer_s": float("nan")}, {"max_concurrent": 0}, {"max_per_client": 0},
        {"token": ""}, {"token": " padded "}, {"host": ""}, {"idle_s": -1.0},
    ])
    def test_refused(self, fields: dict[str, object]) -> None:
        with pytest.raises(ConfigError):
            ServerConfig(**fields)  # type: ignore[arg-type]
