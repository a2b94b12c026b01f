"""A line-protocol writer on the standard library alone (``http.client``), for the router agent.

The same ``/api/v2/write`` request and the same outcome classes as
:class:`probe.sinks.influx.InfluxWriter` (see its table), without influxdb-client: that library
pulls in reactivex, urllib3 and — where installed — numpy, about 20 MB of resident memory and
~700 modules the agent never uses (docs/agent.md, footprint). OpenWrt has no influxdb-client
package either (reference ecosystem §5).

One keep-alive connection; a connection the server closed while the agent slept is reopened
and the write sent once more (safe: points are idempotent, see probe.sinks.lineprotocol).
HTTP statuses are never retried here: the outbox and the forwarder's backoff decide.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from collections.abc import Sequence
from urllib.parse import urlencode, urlsplit

from probe.sinks.config import SinkConfig
from probe.sinks.failures import (
    MAX_BODY_TEXT,
    FailureKind,
    WriteFailure,
    advice,
    classify_status,
)

WRITE_PATH = "/api/v2/write"
# Failures of the connection itself (not of HTTP): refused, reset, timed out, TLS.
_NETWORK_ERRORS = (OSError, http.client.HTTPException, ssl.SSLError)


class HttpLineWriter:
    """Writes line protocol to one sink; ``write`` returns None on a 2xx, else a WriteFailure."""

    def __init__(self, config: SinkConfig) -> None:
        self.config = config
        parts = urlsplit(config.url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port
        base = parts.path.rstrip("/")
        query = {"org": config.org, "bucket": config.bucket, "precision": "ns"}
        self._path = f"{base}{WRITE_PATH}?{urlencode(query)}"
        self._headers = {"Content-Type": "text/plain; charset=utf-8",
                         "Accept": "application/json", "User-Agent": "broadband-probe"}
        if config.token:
            self._headers["Authorization"] = f"Token {config.token}"
        self._conn: http.client.HTTPConnection | None = None

    def write(self, lines: Sequence[str]) -> WriteFailure | None:
        body = "\n".join(lines).encode("utf-8")
        for attempt in (1, 2):
            fresh = self._conn is None
            try:
                status, reason, text, retry_after = self._post(body)
            except _NETWORK_ERRORS as exc:
                self.close()
                if attempt == 1 and not fresh and not isinstance(exc, socket.timeout):
                    continue  # the idle keep-alive connection was gone: one resend
                return self._failure(f"cannot reach {self.config.describe()}: {_reason(exc)}",
                                     "unavailable")
            if 200 <= status < 300:
                return None
            kind = classify_status(status)
            detail = " ".join((text or reason or "").split())[:MAX_BODY_TEXT]
            message = (f"{self.config.describe()} answered HTTP {status}: "
                       f"{detail or 'no detail'}")
            failure = self._failure(message, kind)
            return WriteFailure(kind, failure.message, status, retry_after)
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _post(self, body: bytes) -> tuple[int, str, str, float | None]:
        if self._conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._conn = cls(self._host, self._port, timeout=self.config.timeout_s)
        self._conn.request("POST", self._path, body=body, headers=self._headers)
        response = self._conn.getresponse()
        text = response.read().decode("utf-8", "replace")
        if response.will_close:
            self.close()
        header = response.getheader("Retry-After")
        try:
            retry_after = float(header) if header else None
        except ValueError:
            retry_after = None  # an HTTP date: our own backoff applies
        return response.status, response.reason, text, retry_after

    def _failure(self, text: str, kind: FailureKind) -> WriteFailure:
        return WriteFailure(kind, self.config.redact(f"{text} — {advice(kind)}"))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return str(exc) or exc.__class__.__name__
