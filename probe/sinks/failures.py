"""How a write to a sink can fail, and whose problem each kind of failure is.

Kept apart from ``influx`` so that the forwarder (and its tests) need not import influxdb-client.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FailureKind = Literal["auth", "config", "rejected", "too_large", "unavailable"]
MAX_BODY_TEXT = 300


@dataclass(frozen=True, slots=True)
class WriteFailure:
    """Why a write did not get a 2xx; ``message`` is one token-free line for humans."""

    kind: FailureKind
    message: str
    status: int | None = None
    retry_after_s: float | None = None


def classify_status(status: int) -> FailureKind:
    if status in (401, 403):
        return "auth"
    if status in (400, 422):
        return "rejected"
    if status == 413:
        return "too_large"
    if status == 429 or status >= 500:
        return "unavailable"
    return "config"


_ADVICE: dict[FailureKind, str] = {
    "auth": "check the token (PROBE_INFLUX_TOKEN or --token-file) and its write permission",
    "config": "check --url, --bucket and --org",
    "rejected": "the server refused the data",
    "too_large": "the batch was too large",
    "unavailable": "check that the server is running and reachable; nothing was lost",
}
# What to check differs by server: VictoriaMetrics has no buckets, orgs or tokens of its own.
_ADVICE_FOR_SINK: dict[tuple[str, FailureKind], str] = {
    ("influxdb1", "config"): "check --url and --bucket db/rp (InfluxDB 1.x needs 1.8+ for "
                             "/api/v2/write)",
    ("influxdb1", "auth"): "check the token user:password (PROBE_INFLUX_TOKEN or --token-file)",
    ("victoriametrics", "config"): "check --url (VictoriaMetrics takes /api/v2/write on its "
                                   "HTTP port, 8428 by default)",
    ("victoriametrics", "auth"): "VictoriaMetrics has no tokens of its own: check the token "
                                 "the proxy in front of it expects",
}


def advice(kind: FailureKind, sink_kind: str = "influxdb2") -> str:
    return _ADVICE_FOR_SINK.get((sink_kind, kind), _ADVICE[kind])
