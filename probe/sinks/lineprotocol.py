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
    flags = figures.get("flags") or ()
    tags = {
        "probe_id": record.probe_id,
        "subscriber_id": record.subscriber_id,
        "server": figures.get("server"),
        "backend": figures.get("backend"),
        "contract_ref": record.contract_ref,
        "verdict": record.verdict,
        "flags": ",".join(sorted(str(f) for f in flags)),
    }
    # Sorted tag keys are what InfluxDB would sort to anyway; sending them sorted saves it work
    # and makes the line deterministic for the golden tests.
    tag_parts = []
    for key, value in sorted(tags.items()):
        text = "" if value is None else _tag_value(value)
        if text:
            tag_parts.append(f",{key}={text}")
    field_parts = []
    for spec in FIELDS:
        number = _float_text(figures.get(spec.source))
        if number is not None:
            field_parts.append(f"{spec.name}={number}")
    tag_text = "".join(tag_parts)
    field_text = ",".join(field_parts)
    if not field_text:
        raise RecordFormatError(f"measurement {measurement_id} has no numeric figure to send")
    return f"{MEASUREMENT}{tag_text} {field_text} {timestamp_ns(started_at)}"


def timestamp_ns(started_at: object) -> int:
    """Nanoseconds since the epoch, exact to the microsecond (no float rounding)."""
    moment = parse_utc(started_at)
    return (moment - _EPOCH) // _ONE_US * 1000


def _tag_value(value: object) -> str:
    return str(value).translate(_TAG_SANITISE).translate(_TAG_ESCAPE)


def _float_text(value: object) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number):
        return None
    # repr() is the shortest text that reads back to the same double; it may use an exponent
    # (1e-05), which InfluxDB and VictoriaMetrics both parse (tests prove it on the real servers).
    return repr(number)
