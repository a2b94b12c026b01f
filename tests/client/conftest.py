"""A real measurement server in the test's event loop, and deliberately broken servers."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from probe.measurement import DirectionResult, Measurement
from probe.server import RunningServer, ServerConfig, start_server


def measured_both(m: Measurement) -> tuple[DirectionResult, DirectionResult]:
    """Assert that both directions were measured at a positive rate; return them."""
    assert m.download is not None
    assert m.upload is not None
    assert m.download_mbps is not None
    assert m.download_mbps > 0
    assert m.upload_mbps is not None
    assert m.upload_mbps > 0
    return m.download, m.upload


@pytest.fixture
async def live_server() -> AsyncIterator[RunningServer]:
    server = await start_server(ServerConfig(host="127.0.0.1", port=0))
    try:
        yield server
    finally:
        await server.close()


@pytest.fixture
async def token_server() -> AsyncIterator[RunningServer]:
    server = await start_server(ServerConfig(host="127.0.0.1", port=0, token="s3cret-token"))
    try:
        yield server
    finally:
        await server.close()


RawHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
RawServer = Callable[[RawHandler], Awaitable[str]]


async def read_chunked_upload(reader: asyncio.StreamReader) -> list[list[float]]:
    """Read a chunked upload body to its last chunk; its ``[[t, cumulative bytes], ...]``
    from the moment the body started, as the server's answer carries them."""
    loop = asyncio.get_running_loop()
    samples: list[list[float]] = [[loop.time(), 0]]
    while True:
        size = int((await reader.readuntil(b"\r\n"))[:-2], 16)
        await reader.readexactly(size + 2)
        if size == 0:
            return samples
        samples.append([loop.time(), samples[-1][1] + size])


async def send_upload_answer(writer: asyncio.StreamWriter, received: int,
                             samples: list[list[float]]) -> None:
    """Answer an upload as the server does (what it received, and when), then close."""
    body = json.dumps({"received_bytes": received, "samples": samples}).encode()
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    await writer.drain()
    writer.close()


async def answer_pings(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    """Answer ``GET /ping`` requests with 204 until another request head comes; return it."""
    while True:
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"GET /ping"):
            return head
        writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        await writer.drain()


@pytest.fixture
async def raw_server() -> AsyncIterator[Callable[[RawHandler], Awaitable[str]]]:
    """Start a TCP server on loopback that runs ``handler`` per connection; returns its URL."""
    servers: list[asyncio.Server] = []
    writers: list[asyncio.StreamWriter] = []

    async def start(handler: RawHandler) -> str:
        async def wrapped(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writers.append(writer)
            with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
                await handler(reader, writer)

        server = await asyncio.start_server(wrapped, "127.0.0.1", 0)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    try:
        yield start
    finally:
        for writer in writers:
            writer.close()
        for server in servers:
            server.close()
            await server.wait_closed()
