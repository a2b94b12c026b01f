"""The InfluxDB data model, defined once: measurement name, tags, fields, and the pure encoder.

Everything a sink (InfluxDB 1.x/2.x/3.x, VictoriaMetrics) receives is built here, and
``docs/data-model.md`` documents exactly these names (dashboards read them from there).

Rules this module enforces, and why:

- **Textual values are tags, numbers are fields.** VictoriaMetrics stores a string field as 0,
  so a server name written as a field would be silently lost there.
- **Every field is a float** (no ``i`` suffix), even byte counts: InfluxDB refuses a later write
  whose field type differs from the first one it saw ("field type conflict"), so one type only.
- **A point is idempotent**: its timestamp is the measurement's start to the microsecond (never
  the send time) and its tags name the probe and subscriber, so (tags, timestamp) identifies the
  measurement: a replay overwrites in InfluxDB and collapses under VictoriaMetrics'
  ``-dedup.minScrapeInterval``. The measurement's uuid is deliberately *not* a tag: one series
  per measurement would hit InfluxDB 1.x's ``max-values-per-tag`` (100 000) within days for a
  fleet and churn VictoriaMetrics' index; (probe_id, started_at) finds the stored record.
- Tags that can be absent (subscriber, verdict, flags ...) are omitted, never written empty:
  line protocol has no empty tag value, and InfluxQL/PromQL treat a missing tag as ``""``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from probe.errors import RecordFormatError
from probe.measurement import Measurement, parse_utc

MEASUREMENT = "broadband"


@dataclass(frozen=True, slots=True)
class TagSpec:
    """A tag (indexed text) and where its value comes from."""

    name: str
    description: str


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """A numeric field, the key of the measurement record's JSON form it is taken from."""

    name: str
    source: str
    description: str


TAGS: tuple[TagSpec, ...] = (
    TagSpec("probe_id", "the probe that measured (always present)"),
    TagSpec("subscriber_id", "the subscriber whose line was measured, where known"),
    TagSpec("server", "the measurement server (URL or name)"),
    TagSpec("backend", "measurement engine: native, librespeed, speedtest, ..."),
    TagSpec("contract_ref", "the contract/plan the line was checked against, where known"),
    TagSpec("verdict", "the per-test verdict (pass, shortfall, inconclusive), where known"),
    TagSpec("flags", "comma-separated conditions that may have limited the result, sorted"),
)

FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("download_mbps", "download_mbps", "download goodput, Mbit/s (10^6 bit/s payload)"),
    FieldSpec("upload_mbps", "upload_mbps", "upload goodput, Mbit/s"),
    FieldSpec("latency_ms", "latency_ms", "idle round-trip time, median, ms"),
    FieldSpec("latency_min_ms", "latency_min_ms", "idle round-trip time, minimum, ms"),
    FieldSpec("jitter_ms", "jitter_ms", "idle round-trip jitter, ms"),
    FieldSpec("loaded_latency_down_ms", "loaded_latency_down_ms", "RTT during download, ms"),
    FieldSpec("loaded_latency_up_ms", "loaded_latency_up_ms", "RTT during upload, ms"),
    FieldSpec("download_bytes", "download_bytes", "payload bytes received (float)"),
    FieldSpec("upload_bytes", "upload_bytes", "payload bytes sent (float)"),
    FieldSpec("stream_count", "streams", "parallel TCP streams per direction"),
    FieldSpec("duration_s", "duration_s", "planned transfer time per direction, s"),
)

TAG_NAMES = frozenset(t.name for t in TAGS)
FIELD_NAMES = frozenset(f.name for f in FIELDS)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
# Line protocol cannot carry control characters in a tag; a backslash before a separator would
# change how the line splits, and servers disagree on how ``\\`` is read. Both become "_".
_TAG_SANITISE = {c: "_" for c in (*range(32), 127, ord("\\"))}
_TAG_ESCAPE = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ "})
_NEEDS_ESCAPE = re.compile(r"[\x00-\x1f\x7f\\, =]")
_TAG_ORDER = ("backend", "contract_ref", "flags", "probe_id", "server", "subscriber_id", "verdict")
_FIELD_PAIRS = tuple((f"{spec.name}=", spec.source) for spec in FIELDS)


class PointSource(Protocol):
    """What the encoder needs: the record's JSON form plus who it belongs to."""

    @property
    def figures(self) -> Mapping[str, Any]:
        """``Measurement.to_json_dict()`` (``samples`` may be left out)."""
        ...

    @property
    def probe_id(self) -> str: ...

    @property
    def subscriber_id(self) -> str | None: ...

    @property
    def contract_ref(self) -> str | None: ...

    @property
    def verdict(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class LabelledRecord:
    """A measurement's JSON form with its probe/subscriber labels (a ready-made PointSource)."""

    figures: Mapping[str, Any]
    probe_id: str
    subscriber_id: str | None = None
    contract_ref: str | None = None
    verdict: str | None = None

    @classmethod
    def of(cls, measurement: Measurement, probe_id: str, **labels: str | None) -> LabelledRecord:
        return cls(measurement.to_json_dict(), probe_id, **labels)


def encode_points(records: Iterable[PointSource]) -> list[str]:
    """One line of line protocol (nanosecond precision) per record, in order."""
    return [encode_point(r) for r in records]


def encode_point(record: PointSource) -> str:
    """The line for one record; raises RecordFormatError if it has no id, start or figure."""
    figures = record.figures
    try:
        measurement_id = figures["id"]
        started_at = figures["started_at"]
    except KeyError as exc:
        raise RecordFormatError(f"record lacks {exc.args[0]!r}; cannot build a point") from exc
    flags = figures.get("flags")
    # In the order of _TAG_ORDER (sorted keys: what InfluxDB sorts to anyway, so it saves the
    # server work and makes lines deterministic for the golden tests).
    values = (
        figures.get("backend"),
        record.contract_ref,
        ",".join(sorted(str(f) for f in flags)) if flags else None,
        record.probe_id,
        figures.get("server"),
        record.subscriber_id,
        record.verdict,
    )
    parts = [MEASUREMENT]
    for key, value in zip(_TAG_ORDER, values, strict=True):
        if value is not None and value != "":
            text = _tag_value(value)
            if text:
                parts.append(f",{key}={text}")
    parts.append(" ")
    first = True
    for prefix, source in _FIELD_PAIRS:
        number = _float_text(figures.get(source))
        if number is not None:
            parts.append(prefix if first else "," + prefix)
            parts.append(number)
            first = False
    if first:
        raise RecordFormatError(f"measurement {measurement_id} has no numeric figure to send")
    parts.append(f" {timestamp_ns(started_at)}")
    return "".join(parts)


def timestamp_ns(started_at: object) -> int:
    """Nanoseconds since the epoch, exact to the microsecond (no float rounding)."""
    moment = None
    if isinstance(started_at, str):
        try:  # fast path for the record's own form, "2026-03-01T12:00:00.123456+00:00"
            moment = datetime.fromisoformat(started_at)
        except ValueError:
            moment = None
    if moment is None or moment.utcoffset() is None:
        moment = parse_utc(started_at)
    return (moment - _EPOCH) // _ONE_US * 1000


def _tag_value(value: object) -> str:
    text = str(value)
    if _NEEDS_ESCAPE.search(text) is None:
        return text
    return text.translate(_TAG_SANITISE).translate(_TAG_ESCAPE)


def _float_text(value: object) -> str | None:
    if type(value) is float:
        # repr() is the shortest text that reads back to the same double; it may use an
        # exponent (1e-05), which InfluxDB and VictoriaMetrics both parse (tests prove it).
        return repr(value) if math.isfinite(value) else None
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return repr(number) if math.isfinite(number) else None
