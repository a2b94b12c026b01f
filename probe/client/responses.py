"""An HTTP/1.1 response as the client sees it: the head parsed, the body's length, a refusal.

:class:`Response` is a parsed head plus the small body the connection collected;
:func:`parse_head` reads ``HTTP/1.x CODE REASON`` and the headers, :func:`content_length`
says how long the body is (the measurement server always sends ``Content-Length``, or no body
at all), and :func:`check_status` turns a status the caller did not expect into the
:mod:`probe.errors` exception that explains it in one line (401: no valid token, 503: busy,
with its ``Retry-After``). Malformed answers are :class:`~probe.errors.ProtocolViolation`.
The connection that reads the bytes is :mod:`probe.client.http1`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from probe.errors import ProtocolViolation, ServerRefused


@dataclass(frozen=True, slots=True)
class Response:
    """A parsed response head plus its collected body (empty when the body was counted)."""

    status: int
    reason: str
    headers: dict[str, str]
    body: bytes = b""

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except (UnicodeDecodeError, ValueError) as exc:
            raise ProtocolViolation(f"server sent invalid JSON: {exc}") from None


def parse_head(raw: bytes) -> Response:
    """Parse ``HTTP/1.x CODE REASON`` and headers (lower-cased names); ProtocolViolation else."""
    try:
        text = raw.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
        raise ProtocolViolation("server sent an unreadable response head") from None
    lines = text.split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise ProtocolViolation(f"server did not answer HTTP/1.1: {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise ProtocolViolation(f"server sent a malformed header line: {line[:80]!r}")
        headers[name.strip().lower()] = value.strip()
    return Response(int(parts[1]), parts[2] if len(parts) > 2 else "", headers)


def check_status(response: Response, what: str, expected: tuple[int, ...] = (200,)) -> None:
    """Raise the probe error that explains a refused request in one line."""
    if response.status in expected:
        return
    detail = ""
    if response.body:
        try:
            detail = str(json.loads(response.body).get("error", ""))
        except (ValueError, UnicodeDecodeError, AttributeError):
            detail = response.body[:120].decode("utf-8", "replace").strip()
    suffix = f": {detail}" if detail else ""
    if response.status == 401:
        raise ServerRefused(f"the server refused {what} without a valid token (401){suffix}")
    if response.status == 503:
        retry = response.headers.get("retry-after", "?")
        raise ServerRefused(
            f"the server is busy (503) and refused {what}; retry after {retry} s{suffix}"
        )
    raise ProtocolViolation(
        f"the server answered {response.status} {response.reason} to {what}{suffix}"
    )


def content_length(response: Response) -> int | None:
    """The body's length from the head: 0 where there is none, None where it is not said."""
    if response.status in (204, 304) or 100 <= response.status < 200:
        return 0
    if "chunked" in response.headers.get("transfer-encoding", "").lower():
        if response.status < 300:
            raise ProtocolViolation("server sent a chunked answer; expected Content-Length")
        return 0  # an error page: its status line says enough
    raw = response.headers.get("content-length")
    if raw is None:
        return None
    if not raw.isdigit():
        raise ProtocolViolation(f"server sent a bad Content-Length: {raw[:40]!r}")
    return int(raw)
