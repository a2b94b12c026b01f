"""The client's HTTP/1.1 subset: response heads, status mapping, URLs and request heads."""

from __future__ import annotations

import pytest

from probe.client.connect import parse_server_url, request_head
from probe.client.http1 import Response, check_status, parse_head
from probe.errors import ProtocolViolation, ServerRefused, UsageError


class TestParseHead:
    """Status line and headers are parsed; anything else is a protocol violation."""

    def test_ok(self) -> None:
        r = parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\nX-A:  b ")
        assert r.status == 200
        assert r.reason == "OK"
        assert r.headers == {"content-length": "12", "x-a": "b"}

    @pytest.mark.parametrize("raw", [b"SSH-2.0-OpenSSH", b"HTTP/1.1 abc OK", b"",
                                     b"HTTP/1.1 200 OK\r\nno colon here"])
    def test_garbage(self, raw: bytes) -> None:
        with pytest.raises(ProtocolViolation):
            parse_head(raw)


class TestCheckStatus:
    """Refusals become one-line errors that say what to do."""

    def test_expected_passes(self) -> None:
        check_status(Response(204, "No Content", {}), "a ping", expected=(200, 204))

    def test_error_body_is_quoted(self) -> None:
        with pytest.raises(ProtocolViolation, match="413 Payload Too Large to an upload: cap"):
            check_status(Response(413, "Payload Too Large", {}, b'{"error": "cap"}'), "an upload")

    def test_unauthorised_and_busy_exit_3(self) -> None:
        """A refused test exits 3 like an unreachable server (measure's --help says so)."""
        with pytest.raises(ServerRefused, match="valid token") as info:
            check_status(Response(401, "Unauthorized", {}), "a ping")
        assert info.value.exit_code == 3
        with pytest.raises(ServerRefused, match="busy"):
            check_status(Response(503, "Busy", {"retry-after": "5"}), "a ping")


class TestServerUrl:
    """Server URLs are split into host, port and base path; nonsense is a usage error."""

    def test_defaults_and_prefix(self) -> None:
        a = parse_server_url("http://127.0.0.1:8080/probe/")
        assert (a.host, a.port, a.base_path) == ("127.0.0.1", 8080, "/probe")
        assert a.url == "http://127.0.0.1:8080/probe"
        assert parse_server_url("https://[::1]").port == 443
        assert parse_server_url("https://[::1]").host_header == "[::1]"

    @pytest.mark.parametrize("url", ["", "127.0.0.1:8080", "http://", "http://[::1", "http://a b"])
    def test_nonsense(self, url: str) -> None:
        with pytest.raises(UsageError):
            parse_server_url(url)

    def test_request_head_carries_token_and_prefix(self) -> None:
        head = request_head(parse_server_url("http://127.0.0.1:81/p"), "GET", "/ping", token="t")
        assert head.startswith(b"GET /p/ping HTTP/1.1\r\nHost: 127.0.0.1:81\r\n")
        assert b"\r\nAuthorization: Bearer t\r\n" in head
        assert head.endswith(b"\r\n\r\n")
