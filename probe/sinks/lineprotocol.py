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
- **A fleet point carries its groups and its contract** (``figures["fleet"]``, the JSON form of
  ``probe.compliance.labels.FleetLabels``): plan, region, technology, profile and peak/off-peak
  as tags, the contracted rates the verdict used as fields, and ``compliant`` (1 pass, 0
  shortfall) so that 达标率 is ``mean(compliant)`` and measured/contracted is a field ratio in
  InfluxQL and MetricsQL alike. Points without them (older probes) stay valid and readable.

The window (campaign) verdict and probe status measurements are encoded in
``probe.sinks.fleetpoints``; their names are declared here with the rest (:data:`SCHEMA`).
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

# The fleet labels a per-test point carries when the test was checked against a contract
# (figures["fleet"], filled from probe.compliance.labels.FleetLabels).
FLEET_TAGS: tuple[TagSpec, ...] = (
    TagSpec("plan", "the plan id of the contract the test was checked against"),
    TagSpec("region", "the subscriber's region, from the contract"),
    TagSpec("technology", "access technology of the plan: FTTH, cable, DSL, 5G-FWA, ..."),
    TagSpec("profile", "the rule profile that judged the test: cn-miit, de-bnetza, ..."),
    TagSpec("period", "peak or off_peak: the test's local start inside the peak hours or not"),
)
FLEET_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("compliant", "verdict", "1 when the per-test verdict is pass, 0 on shortfall; "
              "absent when inconclusive or unchecked"),
    FieldSpec("contract_download_mbps", "fleet", "headline contracted download rate "
              "(maximum/theoretical, else advertised, else normally available), Mbit/s"),
    FieldSpec("contract_upload_mbps", "fleet", "headline contracted upload rate, Mbit/s"),
    FieldSpec("threshold_download_mbps", "fleet",
              "download bar of the profile's primary per-test criterion, Mbit/s"),
    FieldSpec("threshold_upload_mbps", "fleet",
              "upload bar of the profile's primary per-test criterion, Mbit/s"),
    FieldSpec("minimum_download_mbps", "fleet", "the plan's minimum download rate, Mbit/s"),
    FieldSpec("minimum_upload_mbps", "fleet", "the plan's minimum upload rate, Mbit/s"),
    FieldSpec("threshold_latency_ms", "fleet", "latency bar of the profile, where it has one"),
    FieldSpec("download_contract_ratio", "download_mbps", "download_mbps / contract_download_mbps"),
    FieldSpec("upload_contract_ratio", "upload_mbps", "upload_mbps / contract_upload_mbps"),
)


@dataclass(frozen=True, slots=True)
class MeasurementSpec:
    """One measurement (InfluxDB) / series-name prefix (VictoriaMetrics) and its names."""

    name: str
    description: str
    tags: tuple[TagSpec, ...]
    fields: tuple[FieldSpec, ...]

    @property
    def tag_names(self) -> frozenset[str]:
        return frozenset(t.name for t in self.tags)

    @property
    def field_names(self) -> frozenset[str]:
        return frozenset(f.name for f in self.fields)


WINDOW_MEASUREMENT = "broadband_window"
PROBE_MEASUREMENT = "broadband_probe"

WINDOW_TAGS: tuple[TagSpec, ...] = (
    TagSpec("subscriber_id", "the subscriber the window verdict is about"),
    TagSpec("plan", "plan id"),
    TagSpec("region", "the subscriber's region"),
    TagSpec("technology", "access technology of the plan"),
    TagSpec("profile", "the rule profile that judged the window"),
)
_WINDOW_FIELD_TEXT = (
    ("compliant", "1 when the window verdict is pass, 0 on shortfall; absent when inconclusive"),
    ("inconclusive", "1 when the window verdict is inconclusive, else 0 (always written)"),
    ("valid_measurements", "measurements the rules counted"),
    ("flagged_measurements", "measurements left out as limited by the local environment"),
    ("window_s", "length of the evaluated window (first to last measurement), s"),
    ("download_tests", "tests counted by the download confidence interval"),
    ("download_failing_tests", "of those, tests that missed the primary download bar"),
    ("download_failing_share_lower", "Clopper-Pearson lower bound of the failing share"),
    ("download_failing_share_upper", "Clopper-Pearson upper bound of the failing share"),
    ("upload_tests", "tests counted by the upload confidence interval"),
    ("upload_failing_tests", "of those, tests that missed the primary upload bar"),
    ("upload_failing_share_lower", "Clopper-Pearson lower bound of the failing share"),
    ("upload_failing_share_upper", "Clopper-Pearson upper bound of the failing share"),
    ("campaign_complete", "1 when the measurement campaign is complete, else 0 (campaigns only)"),
    ("campaign_days_complete", "campaign days with their measurements done"),
    ("campaign_days_needed", "campaign days the profile needs"),
    ("campaign_measurements", "campaign measurements counted"),
    ("campaign_measurements_needed", "campaign measurements the profile needs"),
)
WINDOW_FIELDS = tuple(FieldSpec(n, "evaluation", d) for n, d in _WINDOW_FIELD_TEXT)

PROBE_TAGS: tuple[TagSpec, ...] = (TagSpec("probe_id", "the probe reporting its state"),)
_PROBE_FIELD_TEXT = (
    ("outbox_backlog", "measurements waiting in the probe's outbox"),
    ("outbox_quarantined", "outbox entries the sink refused repeatedly (set aside)"),
    ("tests_completed", "tests completed (counter: the agent's total)"),
    ("tests_deferred", "tests postponed by gating (cross-traffic, CPU) (counter)"),
    ("tests_skipped", "tests given up (no slot, server unreachable) (counter)"),
    ("uptime_s", "seconds since the agent started"),
)
PROBE_FIELDS = tuple(FieldSpec(n, "agent", d) for n, d in _PROBE_FIELD_TEXT)

ALERT_MEASUREMENT = "broadband_alert"
ALERT_TAGS: tuple[TagSpec, ...] = (
    TagSpec("alertname", "BroadbandShortfall"),
    TagSpec("subscriber_id", "the line the alert is about"),
    TagSpec("plan", "plan id"),
    TagSpec("probe_id", "the probe that confirmed it"),
    TagSpec("criterion", "direction/bar, e.g. download/b-normal"),
)
_ALERT_FIELD_TEXT = (
    ("firing", "1 when the alert fired (confirmed shortfall), 0 when it resolved"),
    ("duration_s", "on resolution: seconds from the first failing test to the passing one"),
)
ALERT_FIELDS = tuple(FieldSpec(n, "alert", d) for n, d in _ALERT_FIELD_TEXT)

SCHEMA: tuple[MeasurementSpec, ...] = (
    MeasurementSpec(MEASUREMENT, "one point per completed test", (*TAGS, *FLEET_TAGS),
                    (*FIELDS, *FLEET_FIELDS)),
    MeasurementSpec(WINDOW_MEASUREMENT, "one point per subscriber window (campaign) verdict",
                    WINDOW_TAGS, WINDOW_FIELDS),
    MeasurementSpec(PROBE_MEASUREMENT, "one point per probe status report", PROBE_TAGS,
                    PROBE_FIELDS),
    MeasurementSpec(ALERT_MEASUREMENT, "one point per alert transition (firing, resolved)",
                    ALERT_TAGS, ALERT_FIELDS),
)

TAG_NAMES = frozenset(t.name for t in (*TAGS, *FLEET_TAGS))
FIELD_NAMES = frozenset(f.name for f in (*FIELDS, *FLEET_FIELDS))

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
