"""The upload body on the wire: exact chunked framing and payload, and the bounded unsent queue."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest

from probe.client import run_measurement, upload
from probe.client.connect import parse_server_url
from probe.engine.plan import MeasurePlan
from probe.server import RunningServer
from tests.client.conftest import RawServer, answer_pings


def _payloads() -> list[bytes]:
    """The framed buffer's chunk payloads, in the order a stream sends them."""
    view, frame = upload.framed_payload()
    header = len(b"%x\r\n" % upload.FRAME_PAYLOAD_BYTES)
    return [bytes(view[i + header:i + header + upload.FRAME_PAYLOAD_BYTES])
            for i in range(0, len(view), frame)]


class TestUploadBody:
    """Every chunk a stream sends is a whole framed chunk of the buffer, in order."""

    async def test_chunks_arrive_intact(self, raw_server: RawServer) -> None:
        expected = _payloads()
        problems: list[str] = []
        loop = asyncio.get_running_loop()

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await answer_pings(reader, writer)
            t0, received, index = loop.time(), 0, 0
            while True:  # decode the chunked body and check each chunk byte for byte
                size = int((await reader.readuntil(b"\r\n"))[:-2], 16)
                data = await reader.readexactly(size + 2)
                if size == 0:
                    break
                if data[:-2] != expected[index % len(expected)] or data[-2:] != b"\r\n":
                    problems.append(f"chunk {index} differs from the framed buffer")
                received += size
                index += 1
            body = json.dumps({"received_bytes": received,
                               "samples": [[t0, 0], [loop.time(), received]]}).encode()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()
            writer.close()

        url = await raw_server(handler)
        m = await run_measurement(MeasurePlan(duration_s=1.0, streams=2, directions=("up",)),
                                  url)
        assert problems == []
        assert m.upload is not None
        assert m.upload.counted_at == "server"
        # Whole chunks only: each stream finished the chunk in flight at the deadline.
        assert m.upload.transferred_bytes > 0
        assert m.upload.transferred_bytes % upload.FRAME_PAYLOAD_BYTES == 0


class TestUnsentQueue:
    """Fast upload streams bound their unsent bytes with TCP_NOTSENT_LOWAT; slow ones do not."""

    async def test_bound_follows_the_rate(self, live_server: RunningServer) -> None:
        if not hasattr(socket, "TCP_NOTSENT_LOWAT"):
            pytest.skip("TCP_NOTSENT_LOWAT is not available on this platform")
        stream = upload.UploadStream(parse_server_url(live_server.url), timeout_s=5.0)
        head = b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        try:
            await stream.open(head)
            sock = stream._sock  # the option lives on the raw socket
            assert sock is not None

            def lowat() -> int:
                return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT)

            assert lowat() == 0  # the system default until a rate is known
            stream._sent += upload.FAST_STREAM_BYTES_PER_S // 10  # 0.1 s at the threshold
            stream.tune(0.1)
            assert lowat() == upload.NOTSENT_LOWAT_BYTES
            stream._sent += upload.FAST_STREAM_BYTES_PER_S // 20  # then half that rate
            stream.tune(0.1)
            assert lowat() == 0
        finally:
            stream.close()
