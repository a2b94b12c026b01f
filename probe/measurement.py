"""The measurement record: what one run of ``probe measure`` found, as frozen values.

This module owns the record's shape and its JSON form (the object ``probe measure --json``
prints, one per line in files that ``probe evaluate`` and ``probe export`` read and write).
The JSON form is flat for the figures a rule or a dashboard needs (``download_mbps``,
``latency_ms`` ...) and keeps the raw samples under ``samples`` so that any other statistic can
be recomputed later. Directions that were not measured are ``null``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from probe.errors import RecordFormatError

Direction = Literal["down", "up"]
CountedAt = Literal["client", "server"]

SCHEMA_VERSION = 1

# ``probe demo`` marks its records with DEMO_FLAG (older versions: "loopback_demo"). A demo
# record is never evidence: the store does not queue it for forwarding, and evaluation,
# export and the sinks leave it out.
DEMO_FLAG = "demo"
DEMO_FLAGS = frozenset({DEMO_FLAG, "loopback_demo"})


def is_demo(flags: Sequence[str] | None) -> bool:
    """Whether a record with these flags was made by ``probe demo``."""
    return bool(flags) and not DEMO_FLAGS.isdisjoint(flags or ())


@dataclass(frozen=True, slots=True)
class Sample:
    """Cumulative payload bytes at a moment, seconds after the direction started."""

    t_s: float
    total_bytes: int


@dataclass(frozen=True, slots=True)
class LatencyResult:
    """Round trips on warm connections, in milliseconds, in the order they were taken."""

    rtts_ms: tuple[float, ...]
    median_ms: float
    min_ms: float
    jitter_ms: float


@dataclass(frozen=True, slots=True)
class DirectionResult:
    """One direction's transfer: goodput over the steady-state window plus the raw samples.

    ``samples`` are aggregated over all streams and are what ``goodput_mbps`` was computed
    from; ``counted_at`` says whose byte counter they are (upload: the server's where it could
    answer). ``window_start_s``/``window_end_s`` bound the steady-state window on the same
    time base as the samples. ``goodput_mbps`` is None when the direction ran but could not
    be counted where it must be (an upload the server did not answer for; flagged).
    ``steady``: whether the window showed a steady rate (None: not judged, e.g. old records).
    ``elapsed_s``: how long the direction took, connecting and draining included.
    ``client_cpu_s``: the client process's CPU time during it; ``cpu_allowance``: the CPUs it
    may use (a cgroup CPU quota, e.g. 0.1, or the CPUs it may run on); ``cpu_periods``,
    ``cpu_throttled_periods``, ``cpu_throttled_s``: the quota's periods in which its group ran
    during the direction, how many of them ended in throttling, and for how long (None: no
    quota, another engine, or an older record). They explain ``client_cpu_limited``.
    """

    goodput_mbps: float | None
    transferred_bytes: int
    window_start_s: float
    window_end_s: float
    samples: tuple[Sample, ...]
    counted_at: CountedAt
    loaded_rtts_ms: tuple[float, ...] = ()
    loaded_latency_ms: float | None = None
    streams_completed: int = 0
    steady: bool | None = None
    elapsed_s: float | None = None
    # Why the direction stopped: "duration" (a fixed length reached), "steady" (the adaptive
    # rule knew the rate to its tolerance), "ceiling" (it did not by the ceiling); None in
    # older records and for other engines. ``stopped_at_s``: when the streams stopped moving
    # new data (an upload's queued bytes still drain after it). ``rate_precision``: the
    # adaptive rule's relative 95 % half-width at its last check (docs/measurement.md).
    stop_reason: str | None = None
    stopped_at_s: float | None = None
    rate_precision: float | None = None
    client_cpu_s: float | None = None
    cpu_allowance: float | None = None
    cpu_periods: int | None = None
    cpu_throttled_periods: int | None = None
    cpu_throttled_s: float | None = None
    # Streams ended on purpose because a slow line holds too few packets for all of them
    # (docs/measurement.md, "Number of streams"), and when; the window starts after.
    streams_retired: int = 0
    retired_at_s: float | None = None
    # Payload that reached the receiver (the client for download, the server for upload), in
    # order or not: an upper bound, from the kernel's segment count, on the time base of
    # ``samples``; ``counted_ahead_share``: how much more the count moved over the window
    # than that, as a share (> 1.5 %: the window's start was held back behind a lost segment;
    # flagged unsteady; docs/measurement.md). Empty / None where not measured.
    arrived_samples: tuple[Sample, ...] = ()
    counted_ahead_share: float | None = None


# What a record's rate figures count. Anything other than PAYLOAD_GOODPUT is named in the record
# so that a rule never compares, say, TCP payload including WebSocket framing with HTTP goodput
# without knowing it.
PAYLOAD_GOODPUT = "payload_goodput"


@dataclass(frozen=True, slots=True)
class Method:
    """How a record's figures were obtained: which engine, how it moved bytes, how it computed.

    ``statistic`` describes how ``download_mbps``/``upload_mbps`` were computed; ``quantity``
    what they count (``payload_goodput`` unless said otherwise, e.g. TCP payload that includes
    WebSocket framing); ``overhead`` how the engine treats protocol overhead (``none`` = no
    correction factor applied to the reported figures). ``engine_download_mbps`` /
    ``engine_upload_mbps`` are what the engine's own statistic said about the same run (e.g.
    LibreSpeed's x1.06 mean after a grace period), kept for cross-checks; ``notes`` are short
    facts a reader needs (e.g. why a server was chosen).
    """

    engine: str
    statistic: str
    streams_down: int
    streams_up: int
    duration_s: float
    server: str
    quantity: str = PAYLOAD_GOODPUT
    overhead: str = "none"
    server_selection: str = "given"
    engine_statistic: str = ""
    engine_download_mbps: float | None = None
    engine_upload_mbps: float | None = None
    notes: tuple[str, ...] = ()

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "statistic": self.statistic,
            "quantity": self.quantity,
            "overhead": self.overhead,
            "streams_down": self.streams_down,
            "streams_up": self.streams_up,
            "duration_s": self.duration_s,
            "server": self.server,
            "server_selection": self.server_selection,
            "engine_statistic": self.engine_statistic,
            "engine_download_mbps": self.engine_download_mbps,
            "engine_upload_mbps": self.engine_upload_mbps,
            "notes": list(self.notes),
        }

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> Method:
        if not isinstance(data, Mapping):
            raise RecordFormatError("method must be a JSON object")

        def rate(key: str) -> float | None:
            return None if data.get(key) is None else _number(data, key)

        return cls(
            engine=str(data["engine"]),
            statistic=str(data["statistic"]),
            quantity=str(data.get("quantity", PAYLOAD_GOODPUT)),
            overhead=str(data.get("overhead", "none")),
            streams_down=int(data.get("streams_down", 0)),
            streams_up=int(data.get("streams_up", 0)),
            duration_s=float(data.get("duration_s", 0.0)),
            server=str(data.get("server", "")),
            server_selection=str(data.get("server_selection", "given")),
            engine_statistic=str(data.get("engine_statistic", "")),
            engine_download_mbps=rate("engine_download_mbps"),
            engine_upload_mbps=rate("engine_upload_mbps"),
            notes=tuple(str(n) for n in data.get("notes", ())),
        )


@dataclass(frozen=True, slots=True)
class Measurement:
    """One measurement run against one server. ``started_at`` is aware UTC."""

    id: str
    started_at: datetime
    server: str
    streams: int
    duration_s: float
    backend: str = "native"
    latency: LatencyResult | None = None
    download: DirectionResult | None = None
    upload: DirectionResult | None = None
    # Conditions that may have limited the result (e.g. "client_cpu_limited", "wifi").
    # A rule profile treats a flagged measurement as not valid evidence of a shortfall.
    flags: tuple[str, ...] = field(default=())
    # Traffic the probe's interface carried during the test beyond the test's own, kbit/s
    # (the agent's gating reads the counters around each test); None where not measured.
    cross_traffic_kbps: float | None = None
    # How the engine measured (None in records written before engines were recorded).
    method: Method | None = None
    # ``--duration auto``: each direction stopped once its rate was known (``duration_s`` is
    # then the ceiling; each direction's stop_reason and stopped_at_s say what happened).
    duration_auto: bool = False

    def __post_init__(self) -> None:
        if self.started_at.tzinfo is None or self.started_at.utcoffset() is None:
            raise RecordFormatError("started_at must be timezone-aware")

    @property
    def is_demo(self) -> bool:
        return is_demo(self.flags)

    @property
    def download_mbps(self) -> float | None:
        return None if self.download is None else self.download.goodput_mbps

    @property
    def upload_mbps(self) -> float | None:
        return None if self.upload is None else self.upload.goodput_mbps

    @property
    def latency_ms(self) -> float | None:
        return None if self.latency is None else self.latency.median_ms

    def to_json_dict(self) -> dict[str, Any]:
        """The record as ``probe measure --json`` prints it."""
        down, up, lat = self.download, self.upload, self.latency
        return {
            "schema": SCHEMA_VERSION,
            "id": self.id,
            "started_at": self.started_at.astimezone(UTC).isoformat(),
            "server": self.server,
            "backend": self.backend,
            "download_mbps": self.download_mbps,
            "upload_mbps": self.upload_mbps,
            "latency_ms": self.latency_ms,
            "latency_min_ms": None if lat is None else lat.min_ms,
            "jitter_ms": None if lat is None else lat.jitter_ms,
            "loaded_latency_down_ms": None if down is None else down.loaded_latency_ms,
            "loaded_latency_up_ms": None if up is None else up.loaded_latency_ms,
            "download_bytes": None if down is None else down.transferred_bytes,
            "upload_bytes": None if up is None else up.transferred_bytes,
            "streams": self.streams,
            "duration_s": self.duration_s,
            "duration_auto": self.duration_auto,
            "flags": list(self.flags),
            "cross_traffic_kbps": self.cross_traffic_kbps,
            "method": None if self.method is None else self.method.to_json_dict(),
            "download": _direction_details(down),
            "upload": _direction_details(up),
            "samples": {
                "latency_ms": None if lat is None else list(lat.rtts_ms),
                "download": _sample_pairs(down),
                "upload": _sample_pairs(up),
                "download_arrived": _pairs(() if down is None else down.arrived_samples),
                "upload_arrived": _pairs(() if up is None else up.arrived_samples),
                "loaded_latency_down_ms": None if down is None else list(down.loaded_rtts_ms),
                "loaded_latency_up_ms": None if up is None else list(up.loaded_rtts_ms),
            },
        }

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> Measurement:
        """Rebuild a record from :meth:`to_json_dict` output; raises RecordFormatError."""
        if not isinstance(data, Mapping):
            raise RecordFormatError("a measurement record must be a JSON object")
        try:
            samples = data.get("samples") or {}
            lat_rtts = samples.get("latency_ms")
            latency = None
            if data.get("latency_ms") is not None:
                latency = LatencyResult(
                    rtts_ms=tuple(float(x) for x in (lat_rtts or ())),
                    median_ms=_number(data, "latency_ms"),
                    min_ms=_number(data, "latency_min_ms", default=data["latency_ms"]),
                    jitter_ms=_number(data, "jitter_ms", default=0.0),
                )
            return cls(
                id=str(data["id"]),
                started_at=parse_utc(data["started_at"]),
                server=str(data.get("server", "")),
                backend=str(data.get("backend", "native")),
                streams=int(data.get("streams", 0)),
                duration_s=float(data.get("duration_s", 0.0)),
                latency=latency,
                download=_direction_from(data, "download", samples),
                upload=_direction_from(data, "upload", samples),
                flags=tuple(str(f) for f in data.get("flags", ())),
                cross_traffic_kbps=(None if data.get("cross_traffic_kbps") is None
                                    else _number(data, "cross_traffic_kbps")),
                method=(None if data.get("method") is None
                        else Method.from_json_dict(data["method"])),
                duration_auto=bool(data.get("duration_auto", False)),
            )
        except RecordFormatError:
            raise
        except KeyError as exc:
            raise RecordFormatError(f"measurement record lacks the field {exc.args[0]!r}") from exc
        except (TypeError, ValueError, AttributeError) as exc:
            raise RecordFormatError(f"measurement record is malformed: {exc}") from exc


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


def _number(data: Mapping[str, Any], key: str, default: object = None) -> float:
    value = data.get(key, default)
    if value is None:
        value = default
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise RecordFormatError(f"{key} must be a finite number >= 0, got {value!r}")
    return number


def _direction_details(result: DirectionResult | None) -> dict[str, Any] | None:
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
    }


def _sample_pairs(result: DirectionResult | None) -> list[list[float]] | None:
    if result is None:
        return None
    return [[round(s.t_s, 6), s.total_bytes] for s in result.samples]


def _pairs(samples: Sequence[Sample]) -> list[list[float]] | None:
    return [[round(s.t_s, 6), s.total_bytes] for s in samples] if samples else None


def _direction_from(
    data: Mapping[str, Any], name: Direction | str, samples: Mapping[str, Any]
) -> DirectionResult | None:
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
        goodput_mbps=None if rate is None else _number(data, f"{key}_mbps"),
        transferred_bytes=int(data.get(f"{key}_bytes") or 0),
        window_start_s=float(details.get("window_start_s", 0.0)),
        window_end_s=float(details.get("window_end_s", 0.0)),
        samples=tuple(Sample(float(t), int(b)) for t, b in pairs),
        counted_at=counted_at,
        loaded_rtts_ms=tuple(float(x) for x in (samples.get(loaded_key) or ())),
        loaded_latency_ms=None if loaded is None else _number(data, loaded_key),
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
    )


def _optional_float(details: Mapping[str, Any], key: str) -> float | None:
    return None if details.get(key) is None else float(details[key])


def _optional_int(details: Mapping[str, Any], key: str) -> int | None:
    return None if details.get(key) is None else int(details[key])


def _optional_bool(value: object) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise RecordFormatError(f"steady must be true, false or null, got {value!r}")
