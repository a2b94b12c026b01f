"""Counted download bodies: batched wake-ups, and slow bodies drained at the sampler's tick."""

from __future__ import annotations

import asyncio
import socket

from probe.client import http1
from probe.client.connect import open_connection, parse_server_url
from tests.client.conftest import RawHandler, RawServer

HEAD = b"GET /download HTTP/1.1\r\nHost: x\r\n\r\n"


def paced_body_server(pieces: int, piece_bytes: int, gap_s: float,
                      fast_bytes: int = 0) -> tuple[RawHandler, int]:
    """A handler that answers with ``pieces`` pieces, one every ``gap_s``, then ``fast_bytes``."""
    total = pieces * piece_bytes + fast_bytes

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % total)
        for _ in range(pieces):
            writer.write(b"d" * piece_bytes)
            await writer.drain()
            await asyncio.sleep(gap_s)
        block = b"f" * (1 << 20)
        for _ in range(fast_bytes >> 20):
            writer.write(block)
            await writer.drain()
        await reader.read()

    return handler, total


async def count_body(url: str, *, ticks: int, tick_s: float = 0.1
                     ) -> tuple[http1.HttpConnection, list[tuple[int, int, bool]]]:
    """Request a counted body and tick like the sampler; (bytes, mark, draining) per tick."""
    shared = bytearray(http1.READ_BUFFER_BYTES)
    conn = await open_connection(parse_server_url(url), lambda: http1.HttpConnection(shared),
                                 timeout_s=5.0)
    answer = conn.request(HEAD, count_body=True)
    await asyncio.wait_for(answer, 5.0)
    seen = []
    for _ in range(ticks):
        await asyncio.sleep(tick_s)
        conn.batch_reads(tick_s)
        seen.append((conn.body_bytes + conn.queued_bytes(), conn._lowat, conn._draining))
        if conn.ended_at is not None:
            break
    return conn, seen


class TestSlowBodiesAreDrained:
    async def test_a_slow_body_is_counted_at_ticks_with_a_high_mark(
        self, raw_server: RawServer
    ) -> None:
        handler, total = paced_body_server(40, 2048, 0.02)  # ~100 kB/s for 0.8 s
        conn, seen = await count_body(await raw_server(handler), ticks=30)
        try:
            assert conn.body_bytes == total
            assert conn.ended_at is not None
            draining = [s for s in seen if s[2]]
            assert draining, seen
            sock = conn.transport.get_extra_info("socket") if conn.transport else None
            assert sock is not None
            rcvbuf = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
            # The mark is a safety valve near a quarter of the receive buffer, far above what
            # one tick of this stream brings (~10 kB).
            assert max(mark for _, mark, _ in draining) >= min(rcvbuf // 8, 16 * 1024)
            # Counts never go backwards and never pass the body.
            counts = [b for b, _, _ in seen]
            assert counts == sorted(counts)
            assert counts[-1] <= total
        finally:
            conn.close()

    async def test_a_fast_body_is_batched_not_drained(self, raw_server: RawServer) -> None:
        handler, total = paced_body_server(0, 0, 0.0, fast_bytes=400 << 20)
        conn, seen = await count_body(await raw_server(handler), ticks=100, tick_s=0.02)
        try:
            # 400 MiB over loopback: a tick's worth is far above a quarter of any buffer.
            assert any(not draining for _, _, draining in seen), seen
            assert conn.body_bytes + conn.queued_bytes() <= total
        finally:
            conn.close()

    async def test_drain_stops_at_the_end_of_the_body(self, raw_server: RawServer) -> None:
        """Bytes after the counted body (a misbehaving server) are not counted by a drain."""
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 1000)
            await writer.drain()
            await asyncio.sleep(0.3)
            writer.write(b"y" * 5000)
            await writer.drain()
            await reader.read()

        conn, _ = await count_body(await raw_server(handler), ticks=6)
        try:
            assert conn.body_bytes == 1000
        finally:
            conn.close()

