"""``GET /upload/status``: an upload in progress so far, by the id its client chose (issue #13)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from probe import wire
from probe.server import state
from probe.server.uploadstatus import UploadRegistry
from tests.server.conftest import MakeClient


async def held_body(first_bytes: int, release: asyncio.Event) -> AsyncIterator[bytes]:
    """``first_bytes``, then nothing until ``release`` is set: a stream whose tail is late."""
    yield b"x" * first_bytes
    await release.wait()
    yield b"y" * 1000


@pytest.mark.parametrize("handoff", [True, False], ids=["handoff", "aiohttp-parser"])
class TestStatusEndpoint:
    async def test_in_progress_upload_so_far_then_gone_once_answered(
            self, make_client: MakeClient, handoff: bool) -> None:
        client = await make_client(handoff=handoff)
        registry = client.server.app[state.UPLOADS]
        release = asyncio.Event()
        upload = asyncio.ensure_future(client.post(
            wire.PATH_UPLOAD, params={wire.PARAM_UPLOAD_ID: "stream-1"},
            data=held_body(300_000, release)))
        status: dict[str, object] = {}
        for _ in range(200):  # until the server has read the first part
            resp = await client.get(wire.PATH_UPLOAD_STATUS,
                                    params={wire.PARAM_UPLOAD_ID: "stream-1"})
            if resp.status == 200:
                status = await resp.json()
                if status["received_bytes"] == 300_000:
                    break
            await asyncio.sleep(0.02)
        assert status["received_bytes"] == 300_000
        assert status[wire.FIELD_PARTIAL] is True
        answer = wire.UploadAnswer.from_json(status)
        assert answer.partial
        assert answer.samples[0][1] == 0
        # The count held until the status was asked: its last sample is stamped then.
        assert answer.samples[-1][1] == 300_000
        await asyncio.sleep(0.2)
        later = wire.UploadAnswer.from_json(await (await client.get(
            wire.PATH_UPLOAD_STATUS, params={wire.PARAM_UPLOAD_ID: "stream-1"})).json())
        assert later.samples[-1][0] >= answer.samples[-1][0] + 0.19
        assert later.samples[-1][1] == 300_000
        assert len(registry) == 1

        release.set()
        resp = await upload
        final = await resp.json()
        assert final["received_bytes"] == 301_000
        assert wire.FIELD_PARTIAL not in final  # the answer is complete, never partial
        assert len(registry) == 0
        gone = await client.get(wire.PATH_UPLOAD_STATUS, params={wire.PARAM_UPLOAD_ID: "stream-1"})
        assert gone.status == 404

    async def test_unknown_id_is_404_and_bad_ids_400(
            self, make_client: MakeClient, handoff: bool) -> None:
        client = await make_client(handoff=handoff)
        resp = await client.get(wire.PATH_UPLOAD_STATUS, params={wire.PARAM_UPLOAD_ID: "nobody"})
        assert resp.status == 404
        body = await resp.json()
        assert "error" in body
        # The id echoed: not an older server's "no such path", so another worker may hold it.
        assert body[wire.PARAM_UPLOAD_ID] == "nobody"
        for params in ({}, {wire.PARAM_UPLOAD_ID: ""}, {wire.PARAM_UPLOAD_ID: "a b"},
                       {wire.PARAM_UPLOAD_ID: "x" * (wire.UPLOAD_ID_MAX_CHARS + 1)}):
            assert (await client.get(wire.PATH_UPLOAD_STATUS, params=params)).status == 400
        bad = await client.post(wire.PATH_UPLOAD, params={wire.PARAM_UPLOAD_ID: "a/b"},
                                data=b"x" * 10)
        assert bad.status == 400

    async def test_upload_without_id_is_answered_as_before(
            self, make_client: MakeClient, handoff: bool) -> None:
        client = await make_client(handoff=handoff)
        body = await (await client.post(wire.PATH_UPLOAD, data=b"x" * 5000)).json()
        assert body["received_bytes"] == 5000
        assert wire.FIELD_PARTIAL not in body
        assert len(client.server.app[state.UPLOADS]) == 0

    async def test_token_is_required(self, make_client: MakeClient, handoff: bool) -> None:
        client = await make_client(handoff=handoff, token="s3cret")
        resp = await client.get(wire.PATH_UPLOAD_STATUS, params={wire.PARAM_UPLOAD_ID: "a"})
        assert resp.status == 401


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class TestRegistry:
    def test_bounded_count_drops_the_oldest(self) -> None:
        registry = UploadRegistry(max_entries=3)
        with (registry.tracking("a") as a, registry.tracking("b") as b,
              registry.tracking("c") as c, registry.tracking("d") as d):
            for track in (a, b, c, d):
                assert track is not None
                track(wire.ReceivedTimeline(0.0))
            assert len(registry) == 3
            assert registry.so_far("a") is None
            assert registry.so_far("d") is not None
        assert len(registry) == 0

    def test_entries_expire(self) -> None:
        clock = FakeClock()
        registry = UploadRegistry(ttl_s=10.0, clock=clock)
        with registry.tracking("a") as track:
            assert track is not None
            track(wire.ReceivedTimeline(clock.now))
            clock.now += 9.0
            assert registry.so_far("a") is not None
            clock.now += 1.0
            assert registry.so_far("a") is None
            assert len(registry) == 0

    def test_a_newer_body_of_the_same_id_is_kept(self) -> None:
        registry = UploadRegistry()
        newer = wire.ReceivedTimeline(1.0)
        with registry.tracking("a") as first:
            assert first is not None
            first(wire.ReceivedTimeline(0.0))
            with registry.tracking("a") as second:
                assert second is not None
                second(newer)
        assert len(registry) == 0  # each left: both gone, the older never removed the newer

    def test_no_id_tracks_nothing(self) -> None:
        registry = UploadRegistry()
        with registry.tracking(None) as track:
            assert track is None
