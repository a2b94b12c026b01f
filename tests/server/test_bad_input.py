"""Bad input gets its documented answer (probe.wire) and the server keeps serving afterwards.

Every test here also fails if the server logged an error: a client misbehaving is the client's
problem, not something for an operator's log.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from probe import wire
from tests.server.conftest import MakeClient

Client = TestClient[Any, Any]
GIB = 1 << 30


# Nothing a client sends may make the server log an error (aiohttp logs tracebacks as ERROR).
pytestmark = pytest.mark.usefixtures("no_error_logs")


async def still_serves(client: Client) -> None:
    """The server answers a ping, and a download arrives whole."""
    assert (await client.get(wire.PATH_PING)).status == 204
    resp = await client.get(wire.PATH_DOWNLOAD, params={wire.PARAM_BYTES: "100000"})
    assert len(await resp.read()) == 100_000


async def wait_idle(client: Client, timeout_s: float = 15) -> None:
    """Until the server counts no running transfer (it noticed the client is gone)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        health = await (await client.get(wire.PATH_HEALTH)).json()
        if health["active_transfers"] == 0:
            return
        if loop.time() > deadline:
            pytest.fail(f"transfers still running: {health}")
        await asyncio.sleep(0.02)


async def raw(client: Client) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(client.server.host, client.server.port)


async def read_status(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Status code and body of one HTTP/1.1 response with Content-Length."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return int(lines[0].split()[1]), body


async def assert_json_error(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status == status
    assert resp.content_type == "application/json"
    body: dict[str, Any] = await resp.json()
    assert isinstance(body["error"], str)
    assert body["error"]
    return body


class TestBadParameters:
    """Malformed or out-of-range sizes are 400/413, never a crash or a silent default."""

    @pytest.mark.parametrize("value", ["-1", "abc", "1.5", "", "1e6", " 5", "+5", "1_000",
                                       "9" * 30, "٣"])
    async def test_download_size_must_be_a_plain_integer(self, make_client: MakeClient,
                                                         value: str) -> None:
        client = await make_client()
        resp = await client.get(wire.PATH_DOWNLOAD, params={wire.PARAM_BYTES: value})
        body = await assert_json_error(resp, 400)
        assert wire.PARAM_BYTES in body["error"]
        await still_serves(client)

    async def test_download_size_is_required(self, make_client: MakeClient) -> None:
        client = await make_client()
        await assert_json_error(await client.get(wire.PATH_DOWNLOAD), 400)

    async def test_download_over_the_byte_cap_is_413(self, make_client: MakeClient) -> None:
        client = await make_client(max_transfer_bytes=1000)
        over = await client.get(wire.PATH_DOWNLOAD, params={wire.PARAM_BYTES: "1001"})
        await assert_json_error(over, 413)
        at_cap = await client.get(wire.PATH_DOWNLOAD, params={wire.PARAM_BYTES: "1000"})
        assert len(await at_cap.read()) == 1000

    @pytest.mark.parametrize("value", ["0", "1025", "abc", "-4"])
    async def test_garbage_ck_size_out_of_range(self, make_client: MakeClient,
                                                value: str) -> None:
        client = await make_client()
        resp = await client.get(wire.LIBRESPEED_GARBAGE, params={"ckSize": value})
        await assert_json_error(resp, 400)

    async def test_garbage_over_the_byte_cap_is_413(self, make_client: MakeClient) -> None:
        client = await make_client(max_transfer_bytes=wire.LIBRESPEED_CHUNK_BYTES)
        resp = await client.get(wire.LIBRESPEED_GARBAGE, params={"ckSize": "2"})
        await assert_json_error(resp, 413)


class TestGarbagePaths:
    """Unknown paths are 404 and wrong methods 405, both with JSON bodies."""

    @pytest.mark.parametrize("path", ["/nope", "/download/x", "/etc/passwd", "/%00",
                                      "/garbage.php.bak", "/backend/download", "/UPLOAD"])
    async def test_unknown_path_is_404(self, make_client: MakeClient, path: str) -> None:
        client = await make_client()
        body = await assert_json_error(await client.get(path), 404)
        assert "no such path" in body["error"]

    async def test_wrong_method_is_405_with_allow(self, make_client: MakeClient) -> None:
        client = await make_client()
        resp = await client.post(wire.PATH_DOWNLOAD, data=b"x" * 1000)
        await assert_json_error(resp, 405)
        assert "GET" in resp.headers["Allow"]
        await assert_json_error(await client.get(wire.PATH_UPLOAD), 405)
        await still_serves(client)

    async def test_head_download_is_not_served(self, make_client: MakeClient) -> None:
        client = await make_client()
        resp = await client.head(wire.PATH_DOWNLOAD, params={wire.PARAM_BYTES: "1000"})
        assert resp.status == 405

    async def test_not_http_at_all(self, make_client: MakeClient) -> None:
        client = await make_client()
        reader, writer = await raw(client)
        writer.write(b"\x16\x03\x01\x02\x00 this is not HTTP\r\n\r\n")
        status, _ = await read_status(reader)
        assert status == 400
        writer.close()
        await still_serves(client)


class TestToken:
    """With a token set, every path but /healthz needs it, as a Bearer header or ?token=."""

    async def test_missing_and_wrong_token_are_401(self, make_client: MakeClient) -> None:
        client = await make_client(token="s3cret")
        missing = await client.get(wire.PATH_PING)
        await assert_json_error(missing, 401)
        assert missing.headers["WWW-Authenticate"] == "Bearer"
        wrong = await client.get(wire.PATH_PING, headers={"Authorization": "Bearer s3cre"})
        await assert_json_error(wrong, 401)
        wrong_query = await client.get(wire.PATH_PING, params={wire.PARAM_TOKEN: "x"})
        await assert_json_error(wrong_query, 401)
        basic = await client.get(wire.PATH_PING, headers={"Authorization": "Basic s3cret"})
        await assert_json_error(basic, 401)

    async def test_right_token_either_way(self, make_client: MakeClient) -> None:
        client = await make_client(token="s3cret")
        bearer = await client.get(wire.PATH_PING, headers={"Authorization": "Bearer s3cret"})
        assert bearer.status == 204
        query = await client.get(wire.LIBRESPEED_GETIP, params={wire.PARAM_TOKEN: "s3cret"})
        assert await query.text() == "127.0.0.1"

    async def test_healthz_needs_no_token(self, make_client: MakeClient) -> None:
        client = await make_client(token="s3cret")
        assert (await client.get(wire.PATH_HEALTH)).status == 200

    async def test_unauthorised_upload_body_is_not_read(self, make_client: MakeClient) -> None:
        client = await make_client(token="s3cret")
        resp = await client.post(wire.PATH_UPLOAD, data=b"x" * 200_000)
        await assert_json_error(resp, 401)
        ok = await client.get(wire.PATH_PING, headers={"Authorization": "Bearer s3cret"})
        assert ok.status == 204


class TestConcurrencyCaps:
    """Past the global or per-client cap a transfer gets 503 + Retry-After; others still work."""

    async def hold_download(self, client: Client) -> Any:
        # 1 GiB: far more than socket buffers hold, so the transfer stays running unread.
        return await client.get(wire.PATH_DOWNLOAD, params={wire.PARAM_BYTES: str(GIB)})

    @pytest.mark.parametrize(
        ("fields", "message"),
        [({"max_concurrent": 1, "max_per_client": 5}, "server busy"),
         ({"max_concurrent": 5, "max_per_client": 1}, "too many transfers from 127.0.0.1")],
        ids=["global", "per-client"],
    )
    async def test_503_then_recovers(self, make_client: MakeClient, fields: dict[str, int],
                                     message: str) -> None:
        client = await make_client(**fields)
        held = await self.hold_download(client)
        assert held.status == 200
        busy = await client.get(wire.PATH_DOWNLOAD, params={wire.PARAM_BYTES: "10"})
        body = await assert_json_error(busy, 503)
        assert message in body["error"]
        assert busy.headers["Retry-After"] == str(wire.RETRY_AFTER_S)
        busy_up = await client.post(wire.PATH_UPLOAD, data=b"x" * 100_000)
        await assert_json_error(busy_up, 503)
        busy_ls = await client.post(wire.LIBRESPEED_EMPTY, data=b"x" * 100)
        await assert_json_error(busy_ls, 503)
        # Round trips are not transfers: latency can still be measured.
        assert (await client.get(wire.PATH_PING)).status == 204
        assert (await (await client.get(wire.PATH_HEALTH)).json())["active_transfers"] == 1
        held.close()
        await wait_idle(client)
        await still_serves(client)


class TestAbandonedClients:
    """Clients that stop half-way or vanish release their slot and leave no error behind."""

    @pytest.mark.parametrize("use_sendfile", [True, False], ids=["sendfile", "write"])
    async def test_download_aborted_mid_way(self, make_client: MakeClient,
                                            use_sendfile: bool) -> None:
        client = await make_client(use_sendfile=use_sendfile)
        resp = await client.get(wire.PATH_DOWNLOAD, params={wire.PARAM_BYTES: str(GIB)})
        assert len(await resp.content.readexactly(1 << 20)) == 1 << 20
        resp.close()
        await wait_idle(client)
        await still_serves(client)

    async def test_partial_request_line_then_gone(self, make_client: MakeClient) -> None:
        client = await make_client()
        _reader, writer = await raw(client)
        writer.write(b"GET /download?bytes=1000 HTT")
        await writer.drain()
        writer.close()
        await still_serves(client)

    async def test_slow_client_does_not_block_others(self, make_client: MakeClient) -> None:
        client = await make_client()
        _reader, writer = await raw(client)
        writer.write(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Len")
        await writer.drain()
        await still_serves(client)  # while the slow one sits half-way through its headers
        writer.close()

    async def test_half_sent_headers_are_closed_when_idle(self, make_client: MakeClient) -> None:
        client = await make_client(idle_s=0.2)
        reader, writer = await raw(client)
        writer.write(b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        await writer.drain()
        # The server hangs up on its own; a server that waited forever would time out here.
        assert await asyncio.wait_for(reader.read(), 10) == b""
        writer.close()
        await still_serves(client)

    @pytest.mark.parametrize("framing", ["chunked", "content-length"])
    async def test_partial_upload_body_then_gone(self, make_client: MakeClient,
                                                 framing: str) -> None:
        client = await make_client()
        _reader, writer = await raw(client)
        if framing == "chunked":
            head = b"Transfer-Encoding: chunked\r\n"
            body = b"%x\r\n" % 100_000 + b"x" * 100_000 + b"\r\n" + b"%x\r\n" % 5000 + b"x" * 10
        else:
            head = b"Content-Length: 1000000\r\n"
            body = b"x" * 100_000
        writer.write(b"POST /upload HTTP/1.1\r\nHost: x\r\n" + head + b"\r\n" + body)
        await writer.drain()
        await asyncio.sleep(0.1)
        writer.close()
        await wait_idle(client)
        await still_serves(client)

    async def test_malformed_chunk_framing(self, make_client: MakeClient) -> None:
        client = await make_client()
        reader, writer = await raw(client)
        writer.write(b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"zz\r\nnot a chunk\r\n")
        status, _ = await read_status(reader)
        assert status == 400
        writer.close()
        await wait_idle(client)
        await still_serves(client)


class TestTransferCaps:
    """The byte cap and the duration cap end a transfer with the documented answer."""

    async def test_chunked_upload_over_the_byte_cap(self, make_client: MakeClient) -> None:
        client = await make_client(max_transfer_bytes=100_000)
        reader, writer = await raw(client)
        chunk = b"%x\r\n" % 30_000 + b"x" * 30_000 + b"\r\n"
        writer.write(b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     + chunk * 4)
        status, body = await read_status(reader)
        assert status == 413
        assert b"100000" in body
        assert await asyncio.wait_for(reader.read(), 10) == b""  # and the connection is closed
        writer.close()
        await still_serves(client)

    async def test_declared_length_over_the_byte_cap(self, make_client: MakeClient) -> None:
        client = await make_client(max_transfer_bytes=100_000)
        reader, writer = await raw(client)
        # Only the headers: the 413 must come without the server waiting for the body.
        writer.write(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100001\r\n\r\n")
        status, _ = await read_status(reader)
        assert status == 413
        writer.close()
        resp = await client.post(wire.PATH_UPLOAD, data=b"x" * 100_000)
        assert (await resp.json())["received_bytes"] == 100_000

    async def test_download_cut_at_the_duration_cap(self, make_client: MakeClient) -> None:
        client = await make_client(max_transfer_s=0.3)
        reader, writer = await raw(client)
        writer.write(b"GET /download?bytes=%d HTTP/1.1\r\nHost: x\r\n\r\n" % (8 * GIB))
        await writer.drain()
        await wait_idle(client)  # the server gave up on the unread body
        # A cut-off body ends in a reset or an early EOF; a hang would time out and fail.
        received = 0
        with contextlib.suppress(ConnectionResetError):
            while data := await asyncio.wait_for(reader.read(1 << 20), 10):
                received += len(data)
        assert received < 8 * GIB
        writer.close()
        await still_serves(client)

    async def test_stalled_upload_gets_408(self, make_client: MakeClient) -> None:
        client = await make_client(max_transfer_s=0.3)
        reader, writer = await raw(client)
        writer.write(b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"5\r\nhello\r\n")
        status, body = await read_status(reader)
        assert status == 408
        assert b"duration cap" in body
        writer.close()
        await wait_idle(client)
        await still_serves(client)
