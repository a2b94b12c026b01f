"""The per-test point encoder: a measurement record as one line of InfluxDB line protocol.

The names it writes are the data model's (:mod:`probe.sinks.datamodel`, re-exported here, so
``probe.sinks.lineprotocol.SCHEMA`` is still the one definition); ``docs/data-model.md``
documents them.

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

The window (campaign) verdict and probe status measurements are encoded in
``probe.sinks.fleetpoints``; their names are declared with the rest in the data model.
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
from probe.sinks.datamodel import (
    ALERT_FIELDS,
    ALERT_MEASUREMENT,
    ALERT_TAGS,
    FIELD_NAMES,
    FIELDS,
    FLEET_FIELDS,
    FLEET_TAGS,
    MEASUREMENT,
    PROBE_FIELDS,
    PROBE_MEASUREMENT,
    PROBE_TAGS,
    SCHEMA,
    TAG_NAMES,
    TAGS,
    WINDOW_FIELDS,
    WINDOW_MEASUREMENT,
    WINDOW_TAGS,
    FieldSpec,
    MeasurementSpec,
    TagSpec,
)

__all__ = [
    "ALERT_FIELDS",
    "ALERT_MEASUREMENT",
    "ALERT_TAGS",
    "FIELDS",
    "FIELD_NAMES",
    "FLEET_FIELDS",
    "FLEET_TAGS",
    "MEASUREMENT",
    "PROBE_FIELDS",
    "PROBE_MEASUREMENT",
    "PROBE_TAGS",
    "SCHEMA",
    "TAGS",
    "TAG_NAMES",
    "WINDOW_FIELDS",
    "WINDOW_MEASUREMENT",
    "WINDOW_TAGS",
    "FieldSpec",
    "LabelledRecord",
    "MeasurementSpec",
    "PointSource",
    "TagSpec",
    "encode_point",
    "encode_points",
    "float_text",
    "tag_value",
    "timestamp_ns",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
# Line protocol cannot carry control characters in a tag; a backslash before a separator would
# change how the line splits, and servers disagree on how ``\\`` is read. Both become "_".
_TAG_SANITISE = {c: "_" for c in (*range(32), 127, ord("\\"))}
_TAG_ESCAPE = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ "})
_NEEDS_ESCAPE = re.compile(r"[\x00-\x1f\x7f\\, =]")
_TAG_ORDER = ("backend", "contract_ref", "flags", "period", "plan", "probe_id", "profile",
              "region", "server", "subscriber_id", "technology", "verdict")
_FIELD_PAIRS = tuple((f"{spec.name}=", spec.source) for spec in FIELDS)
_FLEET_FIELD_PAIRS = tuple((f",{spec.name}=", spec.name) for spec in FLEET_FIELDS[1:-2])
_RATIOS = ((",download_contract_ratio=", "download_mbps", "contract_download_mbps"),
           (",upload_contract_ratio=", "upload_mbps", "contract_upload_mbps"))
_COMPLIANT = {"pass": ",compliant=1.0", "shortfall": ",compliant=0.0"}
_NO_FLEET: Mapping[str, Any] = {}


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
    def of(
        cls,
        measurement: Measurement,
        probe_id: str,
        *,
        fleet: Mapping[str, Any] | None = None,
        **labels: str | None,
    ) -> LabelledRecord:
        """``fleet``: ``FleetLabels.to_json_dict()`` of the contract the test was checked with."""
        figures = measurement.to_json_dict()
        if fleet:
            figures["fleet"] = dict(fleet)
        return cls(figures, probe_id, **labels)


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
    fleet = figures.get("fleet") or _NO_FLEET
    # In the order of _TAG_ORDER (sorted keys: what InfluxDB sorts to anyway, so it saves the
    # server work and makes lines deterministic for the golden tests).
    values = (
        figures.get("backend"),
        record.contract_ref,
        ",".join(sorted(str(f) for f in flags)) if flags else None,
        fleet.get("period"),
        fleet.get("plan"),
        record.probe_id,
        fleet.get("profile"),
        fleet.get("region"),
        figures.get("server"),
        record.subscriber_id,
        fleet.get("technology"),
        record.verdict,
    )
    parts = [MEASUREMENT]
    for key, value in zip(_TAG_ORDER, values, strict=True):
        if value is not None and value != "":
            text = tag_value(value)
            if text:
                parts.append(f",{key}={text}")
    parts.append(" ")
    first = True
    for prefix, source in _FIELD_PAIRS:
        number = float_text(figures.get(source))
        if number is not None:
            parts.append(prefix if first else "," + prefix)
            parts.append(number)
            first = False
    if first:
        raise RecordFormatError(f"measurement {measurement_id} has no numeric figure to send")
    compliant = _COMPLIANT.get(record.verdict or "")
    if compliant is not None:
        parts.append(compliant)
    if fleet:
        for prefix, key in _FLEET_FIELD_PAIRS:
            number = float_text(fleet.get(key))
            if number is not None:
                parts.append(prefix)
                parts.append(number)
        for prefix, measured, contracted in _RATIOS:
            ratio = _ratio(figures.get(measured), fleet.get(contracted))
            if ratio is not None:
                parts.append(prefix)
                parts.append(ratio)
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


def _ratio(measured: object, contracted: object) -> str | None:
    """measured / contracted as a field value (a raw series a histogram can bucket exactly,
    which a quotient of two series in MetricsQL cannot), None when either is unknown."""
    if not isinstance(measured, int | float) or not isinstance(contracted, int | float):
        return None
    if isinstance(measured, bool) or isinstance(contracted, bool) or contracted <= 0:
        return None
    return float_text(measured / contracted)


def tag_value(value: object) -> str:
    """A tag value as line protocol carries it (sanitised, escaped)."""
    text = str(value)
    if _NEEDS_ESCAPE.search(text) is None:
        return text
    return text.translate(_TAG_SANITISE).translate(_TAG_ESCAPE)


def float_text(value: object) -> str | None:
    """A field value as a float literal; None for None, booleans, text, non-finite numbers."""
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
