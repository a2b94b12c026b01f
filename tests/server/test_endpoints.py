"""Every endpoint of the measurement server answers as probe.wire documents, on a real socket."""

from __future__ import annotations

import asyncio
import itertools
import zlib
from collections.abc import AsyncIterator

import pytest

from probe import wire
from probe.server import state
from tests.server.conftest import MakeClient


def expected_body(client: object, count: int) -> bytes:
    """The server's random block repeated to ``count`` bytes: what a download must carry."""
    block = bytes(client.server.app[state.PAYLOAD].view)  # type: ignore[attr-defined]
    return (block * (count // len(block) + 1))[:count]


class TestHealthAndPing:
    """/healthz reports status and /ping is an empty 204."""

    async def test_healthz(self, make_client: MakeClient) -> None:
        client = await make_client()
        resp = await client.get(wire.PATH_HEALTH)
        assert resp.status == 200
        body = await resp.json()
        assert body["status"] == "ok"
        assert body["active_transfers"] == 0

    async def test_ping_is_204_without_body(self, make_client: MakeClient) -> None:
        client = await make_client()
        resp = await client.get(wire.PATH_PING)
        assert resp.status == 204
        assert await resp.read() == b""


class TestDownload:
    """/download sends exactly N incompressible bytes with Content-Length and no chunking."""

    @pytest.mark.parametrize("use_sendfile", [True, False], ids=["sendfile", "write"])
    async def test_exact_length_and_headers(self, make_client: MakeClient,
                                            use_sendfile: bool) -> None:
        client = await make_client(use_sendfile=use_sendfile)
        count = 3_000_001
        resp = await client.get(wire.PATH_DOWNLOAD, params={wire.PARAM_BYTES: str(count)})
        assert resp.status == 200
        assert resp.headers["Content-Length"] == str(count)
        assert resp.headers["Content-Encoding"] == "identity"
        assert "Transfer-Encoding" not in resp.headers
        body = await resp.read()
        assert body == expected_body(client, count)

    @pytest.mark.parametrize("use_sendfile", [True, False], ids=["sendfile", "write"])
    async def test_longer_than_the_block_wraps_around(self, make_client: MakeClient,
                                                      use_sendfile: bool) -> None:
        client = await make_client(use_sendfile=use_sendfile, payload_bytes=65536)
        count = 65536 * 3 + 17
        resp = await client.get(wire.PATH_DOWNLOAD, params={wire.PARAM_BYTES: str(count)})
        body = await resp.read()
        assert len(body) == count
        assert body == expected_body(client, count)

    async def test_bytes_are_incompressible(self, make_client: MakeClient) -> None:
        client = await make_client()
        resp = await client.get(wire.PATH_DOWNLOAD, params={wire.PARAM_BYTES: str(4 << 20)})
        body = await resp.read()
        assert len(zlib.compress(body, 9)) / len(body) > 0.999

    async def test_zero_bytes(self, make_client: MakeClient) -> None:
        client = await make_client()
        resp = await client.get(wire.PATH_DOWNLOAD, params={wire.PARAM_BYTES: "0"})
        assert resp.status == 200
        assert await resp.read() == b""

    async def test_keep_alive_serves_the_next_request(self, make_client: MakeClient) -> None:
        client = await make_client()
        for count in (100_000, 200_000):
            resp = await client.get(wire.PATH_DOWNLOAD, params={wire.PARAM_BYTES: str(count)})
            assert len(await resp.read()) == count
        assert (await client.get(wire.PATH_PING)).status == 204


async def chunks(sizes: list[int], pause_s: float = 0.0) -> AsyncIterator[bytes]:
    for size in sizes:
        yield b"\x00" * size
        if pause_s:
            await asyncio.sleep(pause_s)


class TestUpload:
    """/upload counts what it received and returns monotonic samples ending at that count."""

    async def test_chunked_body_is_counted(self, make_client: MakeClient) -> None:
        client = await make_client()
        sizes = [70_000, 1, 250_000, 3_000_000]
        resp = await client.post(wire.PATH_UPLOAD, data=chunks(sizes))
        assert resp.status == 200
        body = await resp.json()
        assert body["received_bytes"] == sum(sizes)
        assert body["samples"][0][1] == 0
        assert body["samples"][-1][1] == sum(sizes)

    async def test_content_length_body_is_counted(self, make_client: MakeClient) -> None:
        client = await make_client()
        resp = await client.post(wire.PATH_UPLOAD, data=b"x" * 123_457)
        body = await resp.json()
        assert body["received_bytes"] == 123_457
        assert body["samples"][-1] == [pytest.approx(body["samples"][-1][0]), 123_457]

    async def test_empty_body(self, make_client: MakeClient) -> None:
        client = await make_client()
        body = await (await client.post(wire.PATH_UPLOAD, data=b"")).json()
        assert body["received_bytes"] == 0
        assert body["samples"][-1][1] == 0

    async def test_samples_are_monotonic_and_spaced(self, make_client: MakeClient) -> None:
        client = await make_client()
        resp = await client.post(wire.PATH_UPLOAD, data=chunks([50_000] * 8, pause_s=0.06))
        samples = (await resp.json())["samples"]
        assert len(samples) >= 3
        times = [t for t, _ in samples]
        counts = [n for _, n in samples]
        assert times == sorted(times)
        assert counts == sorted(counts)
        assert counts[-1] == 400_000
        # Every sample but the closing one waits at least the interval after the previous (a
        # time may repeat: the count before and after a read that followed a gap).
        gaps = [b - a for a, b in itertools.pairwise(sorted(set(times[:-1])))]
        assert all(gap >= wire.SERVER_SAMPLE_INTERVAL_S for gap in gaps)

    async def test_gzip_body_is_counted_as_sent(self, make_client: MakeClient) -> None:
        client = await make_client()
        compressed = zlib.compress(b"\x00" * 1_000_000)
        resp = await client.post(wire.PATH_UPLOAD, data=compressed,
                                 headers={"Content-Encoding": "deflate"})
        assert (await resp.json())["received_bytes"] == len(compressed)


class TestLibreSpeed:
    """garbage.php, empty.php and getIP.php answer like LibreSpeed's PHP backend."""

    @pytest.mark.parametrize("prefix", wire.LIBRESPEED_PREFIXES)
    async def test_garbage_sends_ck_size_mebibytes(self, make_client: MakeClient,
                                                   prefix: str) -> None:
        client = await make_client()
        resp = await client.get(prefix + wire.LIBRESPEED_GARBAGE, params={"ckSize": "3"})
        assert resp.status == 200
        assert resp.headers["Content-Length"] == str(3 * wire.LIBRESPEED_CHUNK_BYTES)
        body = await resp.read()
        assert body == expected_body(client, 3 * wire.LIBRESPEED_CHUNK_BYTES)

    async def test_garbage_default_size(self, make_client: MakeClient) -> None:
        client = await make_client()
        resp = await client.get(wire.LIBRESPEED_GARBAGE)
        expected = wire.LIBRESPEED_DEFAULT_CHUNKS * wire.LIBRESPEED_CHUNK_BYTES
        assert len(await resp.read()) == expected

    @pytest.mark.parametrize("prefix", wire.LIBRESPEED_PREFIXES)
    async def test_empty_get_and_post(self, make_client: MakeClient, prefix: str) -> None:
        client = await make_client()
        get = await client.get(prefix + wire.LIBRESPEED_EMPTY)
        assert (get.status, await get.read()) == (200, b"")
        post = await client.post(prefix + wire.LIBRESPEED_EMPTY, data=chunks([500_000, 9]))
        assert (post.status, await post.read()) == (200, b"")

    @pytest.mark.parametrize("prefix", wire.LIBRESPEED_PREFIXES)
    async def test_get_ip_text_and_json(self, make_client: MakeClient, prefix: str) -> None:
        client = await make_client()
        text = await client.get(prefix + wire.LIBRESPEED_GETIP)
        assert await text.text() == "127.0.0.1"
        js = await client.get(prefix + wire.LIBRESPEED_GETIP, params={"isp": "true"})
        assert await js.json() == {
            "processedString": "127.0.0.1 - localhost IPv4 access", "rawIspInfo": "",
        }

    async def test_cors_headers_only_when_asked(self, make_client: MakeClient) -> None:
        client = await make_client()
        plain = await client.get(wire.LIBRESPEED_EMPTY)
        assert "Access-Control-Allow-Origin" not in plain.headers
        cors = await client.get(wire.LIBRESPEED_EMPTY, params={"cors": "true"})
        assert cors.headers["Access-Control-Allow-Origin"] == "*"
        garbage = await client.get(wire.LIBRESPEED_GARBAGE, params={"cors": "true", "ckSize": "1"})
        assert garbage.headers["Access-Control-Allow-Origin"] == "*"
        await garbage.read()

    async def test_preflight(self, make_client: MakeClient) -> None:
        client = await make_client()
        resp = await client.options("/backend" + wire.LIBRESPEED_EMPTY)
        assert resp.status == 204
        assert "POST" in resp.headers["Access-Control-Allow-Methods"]
