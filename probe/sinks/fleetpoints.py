"""Encoders for the fleet's other measurements: window verdicts, probe status, alert transitions.

Their names are declared in :mod:`probe.sinks.datamodel` (``SCHEMA``) beside the per-test
point and documented in docs/data-model.md; the same rules hold (text in tags, every field a
float, absent rather than empty, deterministic sorted tags).

- ``broadband_window``: one point per subscriber and evaluated window, written by
  ``probe report --write-back``. Its timestamp is the window's end (the evaluation's "now"),
  so re-running a report over the same window overwrites (InfluxDB) or collapses under dedup
  (VictoriaMetrics) instead of adding a second verdict. The verdict is in fields
  (``compliant``, ``inconclusive``), not a tag: as a tag, a changed verdict for the same window
  would be a second series beside the first, and "the subscriber's latest verdict" would need
  a join across series in MetricsQL. The same report also writes each subscriber's verdicts
  per period (its peak-hour tests alone, its off-peak tests alone) as points tagged
  ``period``; the whole-window point has no ``period`` tag, as before it existed, so a query
  for whole-window verdicts selects ``period = ''`` (InfluxQL) / ``period=""`` (MetricsQL).
- ``broadband_probe``: a probe's own state (outbox backlog, deferred and skipped tests) at a
  moment, so a dashboard can show fleet health from the same database as the results.
- ``broadband_alert``: one point per confirmed-shortfall alert transition, stamped when the
  shortfall was first seen (firing) or when a test reached the bar again (resolved), so the
  latest point of a series says whether that line and bar are alerting now.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from probe.alert import Alert
from probe.compliance.contract import Contract
from probe.compliance.labels import PERIODS
from probe.compliance.verdict import Evaluation
from probe.errors import RecordFormatError
from probe.sinks.lineprotocol import (
    ALERT_MEASUREMENT,
    PROBE_MEASUREMENT,
    WINDOW_MEASUREMENT,
    float_text,
    tag_value,
    timestamp_ns,
)

_COMPLIANT = {"pass": 1.0, "shortfall": 0.0}


def build_line(
    measurement: str,
    tags: Iterable[tuple[str, object]],
    fields: Iterable[tuple[str, object]],
    at: datetime,
) -> str:
    """One line: tags sorted by name (absent/empty ones left out), float fields in order."""
    tag_text = "".join(f",{name}={text}" for name, value in sorted(tags)
                       if value is not None and (text := tag_value(value)))
    field_text = ",".join(f"{name}={number}" for name, value in fields
                          if (number := float_text(value)) is not None)
    if not field_text:
        raise RecordFormatError(f"a {measurement} point needs at least one number")
    return f"{measurement}{tag_text} {field_text} {timestamp_ns(at)}"


def encode_window_verdict(
    evaluation: Evaluation, contract: Contract, at: datetime, *, window_s: float | None = None,
    period: str | None = None,
) -> str:
    """The ``broadband_window`` line for one subscriber's window verdict, stamped ``at`` (the
    window's end, aware); ``period`` (``peak`` / ``off_peak``) for a verdict on only that
    period's tests, None for the whole window."""
    if period is not None and period not in PERIODS:
        raise RecordFormatError(f"period must be one of {', '.join(PERIODS)}, not {period!r}")
    if evaluation.subscriber_id != contract.subscriber_id:
        raise RecordFormatError(f"window verdict for {evaluation.subscriber_id!r} paired with the "
                                f"contract of {contract.subscriber_id!r}")
    tags = (("subscriber_id", evaluation.subscriber_id), ("plan", evaluation.plan_id),
            ("region", contract.region), ("technology", contract.plan.technology),
            ("profile", evaluation.profile), ("period", period))
    fields: list[tuple[str, object]] = [
        ("compliant", _COMPLIANT.get(evaluation.verdict)),
        ("inconclusive", 1.0 if evaluation.verdict == "inconclusive" else 0.0),
        ("valid_measurements", evaluation.valid_measurements),
        ("flagged_measurements", evaluation.flagged_measurements),
        ("window_s", window_s),
    ]
    for direction in ("download", "upload"):
        interval = next((c for c in evaluation.confidence if c.direction == direction), None)
        if interval is not None:
            fields += [(f"{direction}_tests", interval.tests),
                       (f"{direction}_failing_tests", interval.failing),
                       (f"{direction}_failing_share_lower", interval.lower),
                       (f"{direction}_failing_share_upper", interval.upper)]
    campaign = evaluation.campaign
    if campaign is not None:
        fields += [("campaign_complete", 1.0 if campaign.complete else 0.0),
                   ("campaign_days_complete", campaign.days_complete),
                   ("campaign_days_needed", campaign.days_needed),
                   ("campaign_measurements", campaign.measurements),
                   ("campaign_measurements_needed", campaign.measurements_needed)]
    return build_line(WINDOW_MEASUREMENT, tags, fields, at)


@dataclass(frozen=True, slots=True)
class ProbeStatus:
    """A probe's state at ``at`` (aware); counters are the agent's totals, None = unknown."""

    probe_id: str
    at: datetime
    outbox_backlog: int | None = None
    outbox_quarantined: int | None = None
    tests_completed: int | None = None
    tests_deferred: int | None = None
    tests_skipped: int | None = None
    uptime_s: float | None = None


def encode_probe_status(status: ProbeStatus) -> str:
    """The ``broadband_probe`` line for one status report."""
    fields = (("outbox_backlog", status.outbox_backlog),
              ("outbox_quarantined", status.outbox_quarantined),
              ("tests_completed", status.tests_completed),
              ("tests_deferred", status.tests_deferred),
              ("tests_skipped", status.tests_skipped),
              ("uptime_s", status.uptime_s))
    return build_line(PROBE_MEASUREMENT, (("probe_id", status.probe_id),), fields, status.at)


def encode_alert(alert: Alert) -> str:
    """The ``broadband_alert`` line for one alert transition."""
    tags = (("alertname", alert.alertname), ("subscriber_id", alert.subscriber),
            ("plan", alert.plan), ("probe_id", alert.probe), ("criterion", alert.criterion))
    if alert.status == "firing" or alert.ends_at is None:
        return build_line(ALERT_MEASUREMENT, tags, (("firing", 1.0),), alert.starts_at)
    duration_s = (alert.ends_at - alert.starts_at).total_seconds()
    return build_line(ALERT_MEASUREMENT, tags, (("firing", 0.0), ("duration_s", duration_s)),
                      alert.ends_at)
