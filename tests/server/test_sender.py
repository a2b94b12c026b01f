"""The raw download path (:mod:`probe.server.sender`): when it is used, what it sends, and TLS."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from probe import sendpolicy
from probe.server import ServerConfig, create_app, payload, sender, state
from probe.server.handoff import HandoffRunner

BLOCK = 65536  # the smallest payload block, so bodies wrap around it many times


class FakeTransport(asyncio.WriteTransport):
    def __init__(self, extra: dict[str, Any], buffered: int = 0, closing: bool = False) -> None:
        super().__init__(extra)
        self._buffered, self._closing = buffered, closing

    def get_write_buffer_size(self) -> int:
        return self._buffered

    def is_closing(self) -> bool:
        return self._closing


@pytest.fixture
def tcp_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    with client, server:
        yield server, client


class TestRawSocket:
    def test_plain_tcp_gets_a_duplicate(
        self, tcp_pair: tuple[socket.socket, socket.socket],
    ) -> None:
        server, _ = tcp_pair
        dup = sender.raw_socket(FakeTransport({"socket": server}))
        assert dup is not None
        with dup:
            assert dup.fileno() != server.fileno()
            assert dup.getsockname() == server.getsockname()
            assert dup.gettimeout() == 0.0

    @pytest.mark.parametrize(("extra", "buffered", "closing"), [
        ({"sslcontext": object()}, 0, False),  # TLS: the transport must encrypt
        ({}, 120, False),  # the head is still queued
        ({}, 0, True),
        ({"socket": None}, 0, False),
    ], ids=["tls", "head-queued", "closing", "no-socket"])
    def test_unsafe_transports_get_none(
        self, tcp_pair: tuple[socket.socket, socket.socket], extra: dict[str, Any],
        buffered: int, closing: bool,
    ) -> None:
        server, _ = tcp_pair
        extra = {"socket": server, **extra}
        assert sender.raw_socket(FakeTransport(extra, buffered, closing)) is None

    def test_no_transport(self) -> None:
        assert sender.raw_socket(None) is None


class TestSendRaw:
    async def test_sends_exactly_count_bytes_of_the_repeated_block(
        self, tcp_pair: tuple[socket.socket, socket.socket],
    ) -> None:
        server, client = tcp_pair
        block = memoryview(bytes(range(256)) * 256)
        count = 5 * len(block) + 1234
        server.setblocking(False)
        received = bytearray()

        def drain() -> None:
            client.settimeout(10)
            while len(received) < count:
                chunk = client.recv(1 << 20)
                assert chunk, "closed early"
                received.extend(chunk)

        reader = asyncio.create_task(asyncio.to_thread(drain))
        await sender.send_raw(server.dup(), block, count)
        await reader
        assert bytes(received) == (bytes(block) * 6)[:count]
        server.setblocking(True)  # the original descriptor is still open and usable
        server.sendall(b"after")
        assert client.recv(16) == b"after"

    async def test_peer_gone_raises_connection_error(
        self, tcp_pair: tuple[socket.socket, socket.socket],
    ) -> None:
        server, client = tcp_pair
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
        client.close()  # RST
        with pytest.raises(ConnectionError):
            await sender.send_raw(server.dup(), memoryview(bytes(BLOCK)), 64 << 20)

    async def test_fast_streams_bound_their_unsent_queue(
        self, tcp_pair: tuple[socket.socket, socket.socket],
    ) -> None:
        server, _ = tcp_pair
        raw = sender._RawSender(server, memoryview(bytes(BLOCK)), 1)

        def lowat() -> int:
            return server.getsockopt(socket.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT)

        raw._tune(sendpolicy.FAST_STREAM_BYTES_PER_S * 1.5)
        assert lowat() == sendpolicy.FAST_UNSENT_BYTES
        raw._tune(sendpolicy.FAST_STREAM_BYTES_PER_S / 100)
        assert lowat() in (0, 0xFFFFFFFF)  # the kernel reports "unbounded" as UINT_MAX


async def download_over(port: int, count: int, ctx: ssl.SSLContext | None) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx)
    try:
        writer.write(b"GET /download?bytes=%d HTTP/1.1\r\nHost: t\r\n\r\n" % count)
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        return await reader.readexactly(count)
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()


@pytest.fixture
def cert(tmp_path: Path) -> tuple[Path, Path]:
    key, crt = tmp_path / "key.pem", tmp_path / "crt.pem"
    result = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
         "/CN=localhost", "-keyout", str(key), "-out", str(crt)],
        capture_output=True, check=False)
    if result.returncode != 0:
        pytest.skip(f"openssl could not make a test certificate: {result.stderr[-200:]!r}")
    return crt, key


@pytest.mark.parametrize("use_tls", [False, True], ids=["plain", "tls"])
async def test_download_path_by_transport(
    monkeypatch: pytest.MonkeyPatch, cert: tuple[Path, Path], use_tls: bool,
) -> None:
    """Plain TCP bodies go out raw; TLS bodies through the transport; both byte-exact."""
    raw_calls: list[int] = []
    real_send_raw = payload.send_raw

    async def spy(sock: socket.socket, view: memoryview, count: int) -> None:
        raw_calls.append(count)
        await real_send_raw(sock, view, count)

    monkeypatch.setattr(payload, "send_raw", spy)
    server_ctx = client_ctx = None
    if use_tls:
        server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_ctx.load_cert_chain(*cert)
        client_ctx = ssl.create_default_context(cafile=str(cert[0]))
        client_ctx.check_hostname = False
    runner = HandoffRunner(create_app(ServerConfig(port=0, payload_bytes=BLOCK)))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ctx)
    await site.start()
    try:
        port = runner.addresses[0][1]
        count = 3 * BLOCK + 777
        expected = (bytes(runner.app[state.PAYLOAD].view) * 4)[:count]
        body = await download_over(port, count, client_ctx)
    finally:
        await runner.cleanup()
    assert body == expected
    assert raw_calls == ([] if use_tls else [count])

