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
    "config": "check --url, --bucket/--org (InfluxDB 1.x needs 1.8+ for /api/v2/write)",
    "rejected": "the server refused the data",
    "too_large": "the batch was too large",
    "unavailable": "will retry later",
}


def advice(kind: FailureKind) -> str:
    return _ADVICE[kind]
