"""The upload hand-off on a real server: bodies read off aiohttp's parser count exactly.

Raw sockets, so that the tests choose where the bytes are cut: with the head, after it, across
chunk lines, and what follows the body.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from probe import readpolicy, wire
from probe.server import ServerConfig, bodysink, poller, start_server
from tests.server.conftest import MakeClient

HEAD = b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"


# Nothing a client sends may make the server log an error (aiohttp logs tracebacks as ERROR).
pytestmark = pytest.mark.usefixtures("no_error_logs")


def chunked(*sizes: int, trailer: bytes = b"") -> bytes:
    return b"".join(b"%x\r\n" % n + b"u" * n + b"\r\n" for n in sizes) + b"0\r\n" + trailer + \
        b"\r\n"


async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])
               if k}
    body = await asyncio.wait_for(reader.readexactly(int(headers.get("content-length", "0"))), 10)
    return int(lines[0].split()[1]), headers, body


async def upload_raw(port: int, pieces: list[bytes], pause_s: float = 0.0, *,
                     until_eof: bool = True) -> tuple[int, dict[str, str], bytes, bytes]:
    """Send ``pieces`` (each its own write), read one answer and then (by default) to EOF."""
    reader, writer = await connect(port)
    try:
        for piece in pieces:
            writer.write(piece)
            await writer.drain()
            if pause_s:
                await asyncio.sleep(pause_s)
        status, headers, body = await read_response(reader)
        rest = await asyncio.wait_for(reader.read(), 10) if until_eof else b""
    finally:
        writer.close()
    return status, headers, body, rest


def port_of(client: TestClient[Any, Any]) -> int:
    assert client.server.port is not None
    return client.server.port


class TestHandoffCounts:
    """A first-request upload is read off aiohttp's parser and counted exactly."""

    async def test_body_in_the_same_write_as_the_head(self, make_client: MakeClient) -> None:
        client = await make_client()
        body = chunked(70_000, 1, 300_000)
        status, headers, answer, rest = await upload_raw(port_of(client), [HEAD + body])
        assert status == 200
        assert json.loads(answer)["received_bytes"] == 370_001
        # The hand-off answers and closes: aiohttp's parser never saw the body end.
        assert headers["connection"] == "close"
        assert rest == b""

    async def test_body_cut_across_chunk_lines(self, make_client: MakeClient) -> None:
        client = await make_client()
        body = chunked(5, 65_536, 3, trailer=b"X-Sum: 1\r\n")
        pieces = [HEAD[:10], HEAD[10:] + body[:2], body[2:4], body[4:9], body[9:70_000],
                  body[70_000:-3], body[-3:]]
        status, _, answer, _ = await upload_raw(port_of(client), pieces, pause_s=0.01)
        assert status == 200
        assert json.loads(answer)["received_bytes"] == 65_544

    async def test_content_length_body(self, make_client: MakeClient) -> None:
        client = await make_client()
        head = b"PUT /upload?x=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 250000\r\n\r\n"
        status, headers, answer, _ = await upload_raw(
            port_of(client), [head + b"a" * 1000, b"b" * 249_000])
        assert status == 200
        assert headers["connection"] == "close"
        samples = json.loads(answer)["samples"]
        assert samples[0][1] == 0
        assert samples[-1][1] == 250_000

    async def test_pipelined_request_after_the_body_is_not_served(
            self, make_client: MakeClient) -> None:
        client = await make_client()
        after = b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n"
        status, headers, answer, rest = await upload_raw(
            port_of(client), [HEAD + chunked(1000) + after])
        assert status == 200
        assert json.loads(answer)["received_bytes"] == 1000
        assert headers["connection"] == "close"
        assert rest == b""  # one answer, then the connection ends; the ping was not parsed

    async def test_samples_are_spaced_and_end_at_the_count(self, make_client: MakeClient) -> None:
        client = await make_client()
        pieces = [HEAD] + [b"%x\r\n" % 40_000 + b"s" * 40_000 + b"\r\n"] * 6 + [b"0\r\n\r\n"]
        _, _, answer, _ = await upload_raw(port_of(client), pieces, pause_s=0.06)
        samples = json.loads(answer)["samples"]
        times = [t for t, _ in samples]
        assert times == sorted(times)
        assert [n for _, n in samples] == sorted(n for _, n in samples)
        assert len(samples) >= 3
        assert samples[-1][1] == 240_000
        # A time may repeat (the count before and after a read that followed a gap).
        gaps = [b - a for a, b in itertools.pairwise(sorted(set(times[:-1])))]
        assert all(gap >= wire.SERVER_SAMPLE_INTERVAL_S for gap in gaps)

    async def test_a_stall_is_a_step_not_a_slope(self, make_client: MakeClient) -> None:
        """After a pause, the count just before the new data is stamped at the same time, so
        a client interpolating between samples does not spread the burst over the pause."""
        client = await make_client()
        pieces = [HEAD] + [b"%x\r\n" % 40_000 + b"s" * 40_000 + b"\r\n"] * 3 + [b"0\r\n\r\n"]
        _, _, answer, _ = await upload_raw(port_of(client), pieces, pause_s=0.3)
        samples = json.loads(answer)["samples"]
        steps = [(a, b) for a, b in itertools.pairwise(samples) if a[0] == b[0]]
        assert steps, samples
        assert all(a[1] < b[1] for a, b in steps)
        assert [n for _, n in samples] == sorted(n for _, n in samples)


class TestNotHandedOff:
    """Where the hand-off does not apply, aiohttp reads the body as before."""

    async def test_upload_after_a_ping_on_a_kept_alive_connection(
            self, make_client: MakeClient) -> None:
        client = await make_client()
        reader, writer = await connect(port_of(client))
        try:
            # The upload is the second request: aiohttp has parsed (and buffered) its body
            # before the handler runs, so the handler reads it through aiohttp.
            writer.write(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n" + HEAD + chunked(5000, 7))
            assert (await read_response(reader))[0] == 204
            status, headers, answer = await read_response(reader)
            assert status == 200
            assert json.loads(answer)["received_bytes"] == 5007
            assert headers.get("connection") != "close"  # kept alive: served by aiohttp
            writer.write(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
            assert (await read_response(reader))[0] == 204
        finally:
            writer.close()

    async def test_plain_aiohttp_runner_still_counts(self, make_client: MakeClient) -> None:
        client = await make_client(handoff=False)
        status, _, answer, _ = await upload_raw(
            port_of(client), [HEAD + chunked(64_000, 64_000, 5)], until_eof=False)
        assert status == 200
        assert json.loads(answer)["received_bytes"] == 128_005

    async def test_refused_bodyless_upload_hands_pipelined_bytes_back(
            self, make_client: MakeClient) -> None:
        client = await make_client(token="s3cret")
        reader, writer = await connect(port_of(client))
        try:
            # 401 before the handler claims anything: the held bytes (the next request) go
            # back to aiohttp, which answers them on the same connection.
            writer.write(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
                         b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert (await read_response(reader))[0] == 401
            status, _, body = await read_response(reader)
            assert (status, json.loads(body)["status"]) == (200, "ok")
        finally:
            writer.close()

    async def test_expect_continue(self, make_client: MakeClient) -> None:
        client = await make_client()
        reader, writer = await connect(port_of(client))
        try:
            writer.write(HEAD[:-2] + b"Expect: 100-continue\r\n\r\n")
            interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            assert interim.startswith(b"HTTP/1.1 100")
            writer.write(chunked(12_345))
            status, _, answer = await read_response(reader)
            assert (status, json.loads(answer)["received_bytes"]) == (200, 12_345)
        finally:
            writer.close()


class TestHandoffGuardRails:
    """Errors on the handed-off path get the documented answers and the server keeps serving."""

    async def test_malformed_framing_after_good_chunks(self, make_client: MakeClient) -> None:
        client = await make_client()
        status, _, answer, rest = await upload_raw(
            port_of(client), [HEAD + b"%x\r\n" % 9000 + b"x" * 9000 + b"\r\n", b"1g\r\n"])
        assert status == 400
        assert "chunk size" in json.loads(answer)["error"]
        assert rest == b""
        assert (await client.get(wire.PATH_PING)).status == 204

    async def test_cap_passed_inside_the_held_bytes(self, make_client: MakeClient) -> None:
        client = await make_client(max_transfer_bytes=1000)
        status, _, answer, rest = await upload_raw(port_of(client), [HEAD + chunked(1001)])
        assert status == 413
        assert "1000" in json.loads(answer)["error"]
        assert rest == b""

    async def test_slot_released_after_the_client_vanishes(self, make_client: MakeClient) -> None:
        client = await make_client(max_per_client=1)
        for _ in range(3):  # a leaked slot would turn the next attempt into a 503
            _reader, writer = await connect(port_of(client))
            writer.write(HEAD + b"%x\r\n" % 100_000 + b"x" * 50_000)
            await writer.drain()
            await asyncio.sleep(0.05)
            writer.close()
            await writer.wait_closed()
            deadline = asyncio.get_running_loop().time() + 10
            while (await (await client.get(wire.PATH_HEALTH)).json())["active_transfers"]:
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.02)
        status, _, answer, _ = await upload_raw(port_of(client), [HEAD + chunked(10)])
        assert (status, json.loads(answer)["received_bytes"]) == (200, 10)


class TestStartServer:
    """``start_server`` (what ``probe serve`` runs) uses the hand-off."""

    async def test_upload_is_handed_off(self) -> None:
        server = await start_server(ServerConfig(port=0))
        try:
            status, headers, answer, rest = await upload_raw(
                server.port, [HEAD + chunked(1 << 20, 1 << 20)])
        finally:
            await server.close()
        assert status == 200
        assert json.loads(answer)["received_bytes"] == 2 << 20
        assert headers["connection"] == "close"
        assert rest == b""


def fast_upload_then_stall(port: int, megabytes: int, pause_s: float) -> bytes:
    """Blocking: send ``megabytes`` as fast as loopback takes them, then, after ``pause_s``,
    the last few bytes of a chunk and the last chunk; return the whole answer."""
    block = b"%x\r\n" % (1 << 20) + b"b" * (1 << 20) + b"\r\n"
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(HEAD)
        for _ in range(megabytes):
            sock.sendall(block)
        sock.sendall(b"%x\r\n" % 100 + b"t" * 60)
        # The server's mark is far above what is queued now; only the tick can release it.
        sock.settimeout(10)
        time.sleep(pause_s)
        sock.sendall(b"t" * 40 + b"\r\n0\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


@pytest.fixture
def lowat_marks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every SO_RCVLOWAT mark the server's body sinks set, in order."""
    marks: list[int] = []
    set_lowat = bodysink.BodySink._set_lowat

    def recording(sink: bodysink.BodySink, count: int) -> None:
        marks.append(count)
        set_lowat(sink, count)

    monkeypatch.setattr(bodysink.BodySink, "_set_lowat", recording)
    return marks


async def upload_answer(client: Callable[[int], bytes]) -> dict[str, Any]:
    """Run a blocking upload client against ``start_server``; its 200 answer as JSON."""
    server = await start_server(ServerConfig(port=0, max_transfer_s=20))
    try:
        answer = await asyncio.to_thread(client, server.port)
    finally:
        await server.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    result: dict[str, Any] = json.loads(body)
    return result


def last_chunk_and_answer(sock: socket.socket) -> bytes:
    """Blocking: end a chunked body and read the server's whole answer."""
    sock.sendall(b"0\r\n\r\n")
    sock.settimeout(10)
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    return answer


def paced_upload(port: int, pieces: int, piece_bytes: int, gap_s: float) -> bytes:
    """Blocking: a chunked upload of ``pieces`` chunks, one every ``gap_s``; the answer."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(HEAD)
        for _ in range(pieces):
            sock.sendall(b"%x\r\n" % piece_bytes + b"p" * piece_bytes + b"\r\n")
            time.sleep(gap_s)
        return last_chunk_and_answer(sock)


class TestBatchedReads:
    """Reads are batched (SO_RCVLOWAT) by the stream's rate; a body's small tail still ends it."""

    async def test_fast_stream_tail_below_the_mark_is_read(self, lowat_marks: list[int]) -> None:
        answer = await upload_answer(lambda port: fast_upload_then_stall(port, 400, 0.2))
        assert answer["received_bytes"] == 400 * (1 << 20) + 100
        assert max(lowat_marks, default=1) >= readpolicy.MIN_READ_LOWAT_BYTES  # batching was on
        assert lowat_marks[-1] == 1  # and dropped for the tail (or at the end)

    async def test_slow_streams_are_batched_coarsely(self, lowat_marks: list[int]) -> None:
        """A ~6.5 Mbit/s upload gets a slow-regime mark (not one wake-up per packet)."""
        # 4 KiB every 5 ms: ~0.8 MB/s, a mark of ~40 KiB at SLOW_READ_BATCH_S = 50 ms. A
        # starved sender only lowers the rate, and anything above ~0.08 MB/s still batches.
        answer = await upload_answer(lambda port: paced_upload(port, 160, 4096, 0.005))
        assert answer["received_bytes"] == 160 * 4096
        slow = [m for m in lowat_marks
                if readpolicy.MIN_SLOW_READ_LOWAT_BYTES <= m < readpolicy.MIN_READ_LOWAT_BYTES]
        assert slow, lowat_marks
        assert lowat_marks[-1] == 1


@pytest.fixture
def polls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[float, int]]:
    """(time, bytes counted so far) at every shared-poller read of a body sink."""
    seen: list[tuple[float, int]] = []
    poll = bodysink.BodySink.poll

    def recording(sink: bodysink.BodySink, now: float) -> None:
        poll(sink, now)
        seen.append((now, sink.received_bytes))

    monkeypatch.setattr(bodysink.BodySink, "poll", recording)
    return seen


def slow_then_fast_upload(port: int) -> bytes:
    """Blocking: 0.6 s at ~100 kB/s, then 0.5 s at ~100 MB/s; the answer."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(HEAD)
        for _ in range(30):
            sock.sendall(b"%x\r\n" % 2048 + b"s" * 2048 + b"\r\n")
            time.sleep(0.02)
        block = b"%x\r\n" % (2 << 20) + b"f" * (2 << 20) + b"\r\n"
        for _ in range(25):
            sock.sendall(block)
            time.sleep(0.02)
        return last_chunk_and_answer(sock)


class TestSharedPolling:
    """Slow plain-TCP bodies are read by the process's shared poller, not by their own wake-ups."""

    async def test_slow_stream_is_read_at_polls(
        self, polls: list[tuple[float, int]], lowat_marks: list[int]
    ) -> None:
        # ~100 kB/s: a poll's worth (10 kB) is far below a quarter of any receive buffer.
        answer = await upload_answer(lambda port: paced_upload(port, 50, 2048, 0.02))
        assert answer["received_bytes"] == 50 * 2048
        assert len(polls) >= 5, polls  # ~1 s of upload, a poll every 0.1 s
        assert polls[-1][1] <= 50 * 2048
        # The safety valve: while polled, the mark is a quarter of the receive buffer.
        assert any(m >= readpolicy.MIN_SLOW_READ_LOWAT_BYTES for m in lowat_marks), lowat_marks
        # Each sample is a count after a read: never above what the answer says.
        samples = answer["samples"]
        assert samples[-1][1] == 50 * 2048
        assert all(b0 <= b1 for (_, b0), (_, b1) in itertools.pairwise(samples))

    async def test_a_stream_that_speeds_up_leaves_the_poller(
        self, polls: list[tuple[float, int]], lowat_marks: list[int]
    ) -> None:
        answer = await upload_answer(slow_then_fast_upload)
        assert answer["received_bytes"] == 30 * 2048 + 25 * (2 << 20)
        assert polls, "the slow start was never polled"
        # Back on its own batched reads: a fast-regime mark was set after the polling.
        assert max(lowat_marks) >= readpolicy.MIN_READ_LOWAT_BYTES, lowat_marks

    async def test_poller_stops_when_its_last_member_ends(self) -> None:
        answer = await upload_answer(lambda port: paced_upload(port, 10, 2048, 0.02))
        assert answer["received_bytes"] == 10 * 2048
        assert len(poller.shared_poller()) == 0


class FakeMember:
    def __init__(self, poller_: poller.SharedPoller, stop_after: int) -> None:
        self.times: list[float] = []
        self._poller, self._stop_after = poller_, stop_after

    def poll(self, now: float) -> None:
        self.times.append(now)
        if len(self.times) >= self._stop_after:
            self._poller.discard(self)


class TestSharedPoller:
    async def test_one_timer_polls_every_member_on_a_fixed_grid(self) -> None:
        shared = poller.SharedPoller(asyncio.get_running_loop())
        a, b = FakeMember(shared, 3), FakeMember(shared, 5)
        shared.add(a)
        shared.add(b)
        await asyncio.sleep(poller.POLL_INTERVAL_S * 7)
        assert len(a.times) == 3
        assert len(b.times) == 5
        assert a.times == b.times[:3]  # the same ticks
        gaps = [t1 - t0 for t0, t1 in itertools.pairwise(b.times)]
        assert all(g == pytest.approx(poller.POLL_INTERVAL_S, abs=0.05) for g in gaps), gaps
        assert len(shared) == 0

    async def test_a_member_may_end_another_inside_a_tick(self) -> None:
        shared = poller.SharedPoller(asyncio.get_running_loop())
        victim = FakeMember(shared, 100)

        class Killer(FakeMember):
            def poll(self, now: float) -> None:
                super().poll(now)
                shared.discard(victim)

        shared.add(Killer(shared, 1))
        shared.add(victim)
        await asyncio.sleep(poller.POLL_INTERVAL_S * 3)
        assert victim.times == []
        assert len(shared) == 0


class TestReadInto:
    def test_counts_what_arrived_and_none_when_empty_or_closed(self) -> None:
        a, b = socket.socketpair()
        with a, b:
            b.setblocking(False)
            view = memoryview(bytearray(16))
            assert poller.read_into(b.fileno(), view) is None  # nothing yet
            a.sendall(b"hello")
            assert poller.read_into(b.fileno(), view) == 5
            assert bytes(view[:5]) == b"hello"
            a.close()
            assert poller.read_into(b.fileno(), view) is None  # end of stream: the transport's
