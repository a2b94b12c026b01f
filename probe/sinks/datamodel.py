"""The InfluxDB data model, defined once: measurement names, their tags and fields.

Everything a sink (InfluxDB 1.x/2.x/3.x, VictoriaMetrics) receives is named here, and
``docs/data-model.md`` documents exactly these names (:data:`SCHEMA`; dashboards read them from
there). The encoders are :mod:`probe.sinks.lineprotocol` (per-test points, which re-exports
these names) and :mod:`probe.sinks.fleetpoints` (window verdict, probe status, alerts).

**A fleet point carries its groups and its contract** (``figures["fleet"]``, the JSON form of
``probe.compliance.labels.FleetLabels``): plan, region, technology, profile and peak/off-peak
as tags, the contracted rates the verdict used as fields, and ``compliant`` (1 pass, 0
shortfall) so that 达标率 is ``mean(compliant)`` and measured/contracted is a field ratio in
InfluxQL and MetricsQL alike. Points without them (older probes) stay valid and readable.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    TagSpec("period", "peak / off_peak: the verdict on only that period's tests; absent on the "
                      "whole-window verdict"),
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
