"""The measurement record: what one run of ``probe measure`` found, as frozen values.

This module owns the record (:class:`Measurement`, how it was measured: :class:`Method`, and
the demo flags) and the shape of its JSON form (the object ``probe measure --json`` prints, one
per line in files that ``probe evaluate`` and ``probe export`` read and write). The JSON form
is flat for the figures a rule or a dashboard needs (``download_mbps``, ``latency_ms`` ...)
and keeps the raw samples under ``samples`` so that any other statistic can be recomputed
later. Directions that were not measured are ``null``. The values the record is built from
(samples, latency, one direction) are :mod:`probe.recordparts`; how their fields are written
and read back is :mod:`probe.recordjson`. Both are re-exported here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from probe.errors import RecordFormatError
from probe.recordjson import (
    direction_details,
    direction_from_json,
    latency_from_json,
    number_field,
    optional_pairs,
    parse_utc,
    sample_pairs,
)
from probe.recordparts import CountedAt, Direction, DirectionResult, LatencyResult, Sample

# The record's parts (probe.recordparts) and parse_utc (probe.recordjson) are re-exported:
# callers import every record name from here.
__all__ = [
    "DEMO_FLAG",
    "DEMO_FLAGS",
    "PAYLOAD_GOODPUT",
    "SCHEMA_VERSION",
    "CountedAt",
    "Direction",
    "DirectionResult",
    "LatencyResult",
    "Measurement",
    "Method",
    "Sample",
    "is_demo",
    "parse_utc",
]

SCHEMA_VERSION = 1

# ``probe demo`` marks its records with DEMO_FLAG (older versions: "loopback_demo"). A demo
# record is never evidence: the store does not queue it for forwarding, and evaluation,
# export and the sinks leave it out.
DEMO_FLAG = "demo"
DEMO_FLAGS = frozenset({DEMO_FLAG, "loopback_demo"})


def is_demo(flags: Sequence[str] | None) -> bool:
    """Whether a record with these flags was made by ``probe demo``."""
    return bool(flags) and not DEMO_FLAGS.isdisjoint(flags or ())


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
            return None if data.get(key) is None else number_field(data, key)

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
            "download": direction_details(down),
            "upload": direction_details(up),
            "samples": {
                "latency_ms": None if lat is None else list(lat.rtts_ms),
                "download": sample_pairs(down),
                "upload": sample_pairs(up),
                "download_arrived": optional_pairs(() if down is None else down.arrived_samples),
                "upload_arrived": optional_pairs(() if up is None else up.arrived_samples),
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
            return cls(
                id=str(data["id"]),
                started_at=parse_utc(data["started_at"]),
                server=str(data.get("server", "")),
                backend=str(data.get("backend", "native")),
                streams=int(data.get("streams", 0)),
                duration_s=float(data.get("duration_s", 0.0)),
                latency=latency_from_json(data, samples),
                download=direction_from_json(data, "download", samples),
                upload=direction_from_json(data, "upload", samples),
                flags=tuple(str(f) for f in data.get("flags", ())),
                cross_traffic_kbps=(None if data.get("cross_traffic_kbps") is None
                                    else number_field(data, "cross_traffic_kbps")),
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


