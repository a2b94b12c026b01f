"""The upload body on the wire: exact chunked framing and payload, and the bounded unsent queue."""

from __future__ import annotations

import asyncio
import socket

import pytest

from probe import sendpolicy
from probe.client import run_measurement, upload, uploadbody
from probe.client.connect import parse_server_url
from probe.engine.plan import MeasurePlan
from probe.server import RunningServer
from tests.client.conftest import RawServer, answer_pings, send_upload_answer


def _payloads(size: int) -> list[bytes]:
    """A framed buffer's chunk payloads, in the order a stream sends them."""
    view, frame = uploadbody.framed_payload(size)
    header = len(b"%x\r\n" % size)
    return [bytes(view[i + header:i + header + size]) for i in range(0, len(view), frame)]


class TestUploadBody:
    """Every chunk a stream sends is a whole framed chunk of the buffer, in order."""

    async def test_chunks_arrive_intact(self, raw_server: RawServer) -> None:
        expected = {size: _payloads(size) for size in
                    (uploadbody.SMALL_FRAME_PAYLOAD_BYTES, uploadbody.FRAME_PAYLOAD_BYTES)}
        problems: list[str] = []
        loop = asyncio.get_running_loop()

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await answer_pings(reader, writer)
            t0, received, index, last_size = loop.time(), 0, 0, 0
            while True:  # decode the chunked body and check each chunk byte for byte
                size = int((await reader.readuntil(b"\r\n"))[:-2], 16)
                data = await reader.readexactly(size + 2)
                if size == 0:
                    break
                if size != last_size:  # small chunks first, then big ones from their start
                    if last_size not in (0, uploadbody.SMALL_FRAME_PAYLOAD_BYTES) \
                            or size not in expected:
                        problems.append(f"chunk {index}: size {size} after {last_size}")
                        break
                    index, last_size = 0, size
                chunks = expected[size]
                if data[:-2] != chunks[index % len(chunks)] or data[-2:] != b"\r\n":
                    problems.append(f"chunk {index} differs from the framed buffer")
                received += size
                index += 1
            await send_upload_answer(writer, received, [[t0, 0], [loop.time(), received]])

        url = await raw_server(handler)
        m = await run_measurement(MeasurePlan(duration_s=1.0, streams=2, directions=("up",)),
                                  url)
        assert problems == []
        assert m.upload is not None
        assert m.upload.counted_at == "server"
        # Whole chunks only: each stream finished the chunk in flight at the deadline.
        assert m.upload.transferred_bytes > 0
        assert m.upload.transferred_bytes % uploadbody.SMALL_FRAME_PAYLOAD_BYTES == 0


class TestUnsentQueue:
    """Each upload stream keeps about 0.2 s of its rate unsent (TCP_NOTSENT_LOWAT)."""

    async def test_bound_follows_the_rate(self, live_server: RunningServer) -> None:
        if not hasattr(socket, "TCP_NOTSENT_LOWAT"):
            pytest.skip("TCP_NOTSENT_LOWAT is not available on this platform")
        stream = upload.RawUploadStream(parse_server_url(live_server.url), timeout_s=5.0)
        head = b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        try:
            await stream.open(head)
            sock = stream._sock  # the option lives on the raw socket
            assert sock is not None

            def lowat() -> int:
                return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT)

            assert lowat() == sendpolicy.START_UNSENT_BYTES  # before any rate is known
            stream._body.payload += 1_250_000 // 10  # 0.1 s at 10 Mbit/s, all acknowledged
            stream.tune(0.1)
            assert lowat() == pytest.approx(1_250_000 * sendpolicy.UNSENT_S, rel=0.05)
            stream._body.payload += sendpolicy.FAST_STREAM_BYTES_PER_S * 10  # then very fast
            stream.tune(1.0)
            stream._body.payload += sendpolicy.FAST_STREAM_BYTES_PER_S * 10
            stream.tune(1.0)
            assert lowat() == sendpolicy.FAST_UNSENT_BYTES
        finally:
            stream.close()


class TestSendPolicy:
    """The pure unsent-queue rule shared by client uploads and server downloads."""

    def test_bounds(self) -> None:
        assert sendpolicy.unsent_bound_bytes(None) == sendpolicy.START_UNSENT_BYTES
        assert sendpolicy.unsent_bound_bytes(0.0) == sendpolicy.MIN_UNSENT_BYTES
        assert sendpolicy.unsent_bound_bytes(1e6) == int(1e6 * sendpolicy.UNSENT_S)
        assert sendpolicy.unsent_bound_bytes(1e12) == sendpolicy.FAST_UNSENT_BYTES

    def test_handed_over_rate_cannot_feed_on_its_own_queue(self) -> None:
        """From bytes handed to the kernel, a step in the queue moves the bound by 0.2x."""
        rate = sendpolicy.smoothed_rate(None, 0, 0.1, acknowledged=False)
        assert rate == 0.0
        rate = sendpolicy.smoothed_rate(rate, 100_000, 0.1, acknowledged=False)
        assert rate == pytest.approx(100_000)  # 0.1 of the 1 MB/s burst
        assert sendpolicy.smoothed_rate(None, 100_000, 0.1, acknowledged=True) == 1_000_000
