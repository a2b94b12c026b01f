"""The thin HTTP write: influxdb-client's SYNCHRONOUS write API, its outcomes classified.

Import this module only where a sink is used (the CLI does, inside its handler): it pulls in
influxdb-client, reactivex and urllib3, too slow for ``probe --help`` on a router.

influxdb-client's default batching mode keeps batches only in memory and drops them after its
retries (influxdb-client-python #689, #165); here every write is synchronous, the client retries
nothing but one broken connection, and the durable outbox decides what happens next.
A write either succeeds (2xx) or yields a ``WriteFailure`` saying whose problem it is:

==============  ==============================  ==========================================
kind            cause                           what the forwarder does
==============  ==============================  ==========================================
auth            401, 403                        stop; back off; tell the operator
config          404 and other 4xx               stop; back off; tell the operator
rejected        400, 422 (bad line, conflict)   bisect the batch; quarantine a lone line
too_large       413                             split the batch
unavailable     429, 5xx, refused, timeout      stop; back off with jitter; retry later
==============  ==============================  ==========================================
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.domain.write_precision import WritePrecision
from influxdb_client.rest import ApiException
from urllib3.exceptions import HTTPError
from urllib3.util.retry import Retry

from probe.sinks.config import SinkConfig
from probe.sinks.failures import (
    MAX_BODY_TEXT,
    FailureKind,
    WriteFailure,
    advice,
    classify_status,
)

# One immediate resend when the connection breaks (typically a pooled keep-alive connection the
# server closed while the forwarder idled). Safe because points are idempotent; HTTP statuses
# are never retried here (status=0): the outbox and the forwarder's backoff handle those.
_CONNECTION_RETRY = Retry(total=1, connect=1, read=1, other=1, status=0, redirect=0,
                          allowed_methods=None, raise_on_status=False, backoff_factor=0)


class InfluxWriter:
    """Writes line protocol to one sink; ``write`` returns None on a 2xx, else a WriteFailure."""

    def __init__(self, config: SinkConfig) -> None:
        self.config = config
        self._client = InfluxDBClient(
            url=config.url,
            token=config.token or None,  # type: ignore[arg-type]  # None: no auth header
            org=config.org,
            timeout=int(config.timeout_s * 1000),
            retries=_CONNECTION_RETRY,
        )
        self._api = self._client.write_api(write_options=SYNCHRONOUS)

    def write(self, lines: Sequence[str]) -> WriteFailure | None:
        try:
            self._api.write(
                bucket=self.config.bucket,
                org=self.config.org,
                record="\n".join(lines),
                write_precision=WritePrecision.NS,  # type: ignore[arg-type]  # a str enum
            )
        except ApiException as exc:
            return self._http_failure(exc)
        except (HTTPError, OSError) as exc:
            return WriteFailure(
                "unavailable",
                self._line(f"cannot reach {self.config.describe()}: {_reason(exc)}", "unavailable"),
            )
        return None

    def close(self) -> None:
        self._api.close()  # type: ignore[no-untyped-call]
        self._client.close()  # type: ignore[no-untyped-call]

    def _http_failure(self, exc: Any) -> WriteFailure:
        status = int(exc.status or 0)
        kind = classify_status(status)
        body = exc.body.decode("utf-8", "replace") if isinstance(exc.body, bytes) else exc.body
        detail = " ".join(str(body or exc.reason or "").split())[:MAX_BODY_TEXT]
        retry_after: float | None = None
        header = (exc.headers or {}).get("Retry-After")
        try:
            retry_after = float(header) if header else None
        except (TypeError, ValueError):
            retry_after = None  # an HTTP date; our own backoff applies
        text = f"{self.config.describe()} answered HTTP {status}: {detail or 'no detail'}"
        return WriteFailure(kind, self._line(text, kind), status, retry_after)

    def _line(self, text: str, kind: FailureKind) -> str:
        return self.config.redact(f"{text} — {advice(kind, self.config.kind)}")


def _reason(exc: BaseException) -> str:
    """The innermost readable cause: 'Connection refused', 'read timed out' ..."""
    reason = getattr(exc, "reason", None)
    if isinstance(reason, BaseException):
        return _reason(reason)
    text = str(reason or exc)
    # urllib3 prefixes the connection's repr ("HTTPConnection(host=..., port=...): Failed to
    # establish a new connection: [Errno 111] ..."); the URL is already in our message.
    text = re.sub(r"^\w+\(host=.*?\): ", "", text)
    text = re.sub(r"^<[^>]*object at 0x[0-9a-f]+>: ", "", text)
    return re.sub(r"\[Errno -?\d+\] ", "", text)
