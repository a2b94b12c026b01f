"""The JSON fields of a measurement record: timestamps, numbers, directions and their samples.

:class:`probe.measurement.Measurement` owns the record's top-level shape (the object ``probe
measure --json`` prints); this module owns how its parts are written and read back: aware
timestamps (:func:`parse_utc`, which refuses naive ones), figures that must be finite and
>= 0 (:func:`number_field`), a direction's ``details`` object and its ``[[t_s, bytes], ...]``
sample pairs, and the idle latency. Anything malformed is a
:class:`~probe.errors.RecordFormatError`; fields that older records lack take their defaults,
so old JSON still loads.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from probe.errors import RecordFormatError
from probe.recordparts import Direction, DirectionResult, LatencyResult, Sample


def parse_utc(value: object) -> datetime:
    """Parse an ISO 8601 timestamp that carries its offset; naive times are refused."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError as exc:
            raise RecordFormatError(f"not an ISO 8601 timestamp: {value!r}") from exc
    else:
        raise RecordFormatError(f"not a timestamp: {value!r}")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise RecordFormatError(f"timestamp has no UTC offset: {value!r}")
    return parsed.astimezone(UTC)


def number_field(data: Mapping[str, Any], key: str, default: object = None) -> float:
    """``data[key]`` (or ``default`` where it is missing or null) as a finite number >= 0."""
    value = data.get(key, default)
    if value is None:
        value = default
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise RecordFormatError(f"{key} must be a finite number >= 0, got {value!r}")
    return number


def direction_details(result: DirectionResult | None) -> dict[str, Any] | None:
    """The ``download``/``upload`` object of the record: the window and what limited it."""
    if result is None:
        return None
    return {
        "window_start_s": result.window_start_s,
        "window_end_s": result.window_end_s,
        "counted_at": result.counted_at,
        "streams_completed": result.streams_completed,
        "steady": result.steady,
        "elapsed_s": result.elapsed_s,
        "stop_reason": result.stop_reason,
        "stopped_at_s": result.stopped_at_s,
        "rate_precision": result.rate_precision,
        "client_cpu_s": result.client_cpu_s,
        "cpu_allowance": result.cpu_allowance,
        "cpu_periods": result.cpu_periods,
        "cpu_throttled_periods": result.cpu_throttled_periods,
        "cpu_throttled_s": result.cpu_throttled_s,
        "streams_retired": result.streams_retired,
        "retired_at_s": result.retired_at_s,
        "counted_ahead_share": result.counted_ahead_share,
        "losses_seen": result.losses_seen,
        "partial_streams": list(result.partial_streams),
    }


def sample_pairs(result: DirectionResult | None) -> list[list[float]] | None:
    """A direction's samples as ``[[t_s, bytes], ...]`` (None: not measured)."""
    if result is None:
        return None
    return [[round(s.t_s, 6), s.total_bytes] for s in result.samples]


def optional_pairs(samples: Sequence[Sample]) -> list[list[float]] | None:
    """Samples as ``[[t_s, bytes], ...]``; None when there are none."""
    return [[round(s.t_s, 6), s.total_bytes] for s in samples] if samples else None


def latency_from_json(data: Mapping[str, Any], samples: Mapping[str, Any]) -> LatencyResult | None:
    """The idle latency from the record's flat figures and ``samples``; None if not measured."""
    if data.get("latency_ms") is None:
        return None
    return LatencyResult(
        rtts_ms=tuple(float(x) for x in (samples.get("latency_ms") or ())),
        median_ms=number_field(data, "latency_ms"),
        min_ms=number_field(data, "latency_min_ms", default=data["latency_ms"]),
        jitter_ms=number_field(data, "jitter_ms", default=0.0),
    )


def direction_from_json(
    data: Mapping[str, Any], name: Direction | str, samples: Mapping[str, Any]
) -> DirectionResult | None:
    """One direction of a record from its flat figures, its details object and ``samples``;
    None when it was not measured."""
    key = "download" if name == "download" else "upload"
    rate = data.get(f"{key}_mbps")
    details = data.get(key)
    if rate is None and not isinstance(details, Mapping):
        return None
    details = details or {}
    loaded_key = "loaded_latency_down_ms" if key == "download" else "loaded_latency_up_ms"
    pairs: Sequence[Sequence[float]] = samples.get(key) or ()
    counted_at = details.get("counted_at", "client")
    if counted_at not in ("client", "server"):
        raise RecordFormatError(f"{key}.counted_at must be 'client' or 'server'")
    loaded = data.get(loaded_key)
    return DirectionResult(
        goodput_mbps=None if rate is None else number_field(data, f"{key}_mbps"),
        transferred_bytes=int(data.get(f"{key}_bytes") or 0),
        window_start_s=float(details.get("window_start_s", 0.0)),
        window_end_s=float(details.get("window_end_s", 0.0)),
        samples=tuple(Sample(float(t), int(b)) for t, b in pairs),
        counted_at=counted_at,
        loaded_rtts_ms=tuple(float(x) for x in (samples.get(loaded_key) or ())),
        loaded_latency_ms=None if loaded is None else number_field(data, loaded_key),
        streams_completed=int(details.get("streams_completed", 0)),
        steady=_optional_bool(details.get("steady")),
        elapsed_s=_optional_float(details, "elapsed_s"),
        stop_reason=None if details.get("stop_reason") is None else str(details["stop_reason"]),
        stopped_at_s=_optional_float(details, "stopped_at_s"),
        rate_precision=_optional_float(details, "rate_precision"),
        client_cpu_s=_optional_float(details, "client_cpu_s"),
        cpu_allowance=_optional_float(details, "cpu_allowance"),
        cpu_periods=_optional_int(details, "cpu_periods"),
        cpu_throttled_periods=_optional_int(details, "cpu_throttled_periods"),
        cpu_throttled_s=_optional_float(details, "cpu_throttled_s"),
        streams_retired=int(details.get("streams_retired") or 0),
        retired_at_s=_optional_float(details, "retired_at_s"),
        arrived_samples=tuple(Sample(float(t), int(b)) for t, b in
                              (samples.get(f"{key}_arrived") or ())),
        counted_ahead_share=_optional_float(details, "counted_ahead_share"),
        losses_seen=_optional_bool(details.get("losses_seen"), "losses_seen"),
        partial_streams=tuple(int(i) for i in details.get("partial_streams") or ()),
    )


def _optional_float(details: Mapping[str, Any], key: str) -> float | None:
    return None if details.get(key) is None else float(details[key])


def _optional_int(details: Mapping[str, Any], key: str) -> int | None:
    return None if details.get(key) is None else int(details[key])


def _optional_bool(value: object, key: str = "steady") -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise RecordFormatError(f"{key} must be true, false or null, got {value!r}")
