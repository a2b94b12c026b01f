"""The loaded-latency side channel: one round trip per interval until cancelled, quiet on errors."""

from __future__ import annotations

import asyncio

import pytest

from probe.client.connect import parse_server_url
from probe.client.pings import Pinger, idle_round_trips, ping_every
from probe.server import RunningServer
from tests.client.conftest import RawServer


async def side_channel_until_it_ends(url: str) -> int:
    """Run the side channel against ``url`` until it stops by itself; the round trips taken."""
    pinger = await Pinger(parse_server_url(url), None, 5.0).open()
    rtts: list[tuple[float, float]] = []
    try:
        await asyncio.wait_for(ping_every(pinger, 0.01, rtts), timeout=5.0)
    finally:
        pinger.close()
    return len(rtts)


async def test_idle_round_trips_are_counted(live_server: RunningServer) -> None:
    rtts = await idle_round_trips(parse_server_url(live_server.url), None, count=10,
                                  timeout_s=5.0)
    assert len(rtts) == 10
    assert all(r > 0 for r in rtts)


async def test_one_round_trip_per_interval_until_cancelled(live_server: RunningServer) -> None:
    pinger = await Pinger(parse_server_url(live_server.url), None, 5.0).open()
    rtts: list[tuple[float, float]] = []
    task = asyncio.create_task(ping_every(pinger, 0.05, rtts))
    try:
        await asyncio.sleep(0.5)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        pinger.close()
    # About ten intervals passed; the schedule is fixed, so not many more, and a slow CI
    # machine may lose a few to a busy loop.
    assert 3 <= len(rtts) <= 12
    assert all(r > 0 for _, r in rtts)
    sent = [t for t, _ in rtts]  # each stamped when sent, about one interval apart
    assert sent == sorted(sent)
    assert sent[-1] - sent[0] >= 0.05 * (len(sent) - 2)
    assert task.cancelled()


async def test_a_closed_connection_ends_the_side_channel_quietly(
    raw_server: RawServer,
) -> None:
    answered = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal answered
        while answered < 3:  # the warm-up ping and two more, then hang up
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
            await writer.drain()
            answered += 1
        writer.close()

    assert await side_channel_until_it_ends(await raw_server(handler)) == 2


@pytest.mark.parametrize("status", [500, 404])
async def test_an_error_answer_ends_the_side_channel(raw_server: RawServer, status: int) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")  # the warm-up ping is answered
        writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 %d Oops\r\nContent-Length: 0\r\n\r\n" % status)
        await writer.drain()
        await reader.read()  # stay open: only the status may end the loop

    assert await side_channel_until_it_ends(await raw_server(handler)) == 0
