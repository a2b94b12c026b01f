"""The delivery audit: is every measurement the sink acknowledged really stored, exactly once?

A 2xx proves little: VictoriaMetrics answers 204 for lines it drops, and a TSDB killed hard
loses writes it had acknowledged (tried: VictoriaMetrics killed with SIGKILL kept 10 of 24
acknowledged points). The audit reads back what the sink holds for each probe over a period
(InfluxQL ``SELECT`` / VictoriaMetrics ``/api/v1/export``), compares it with what the store
says was delivered, and requeues the missing measurements so the forwarder sends them again.
Points are idempotent (fixed timestamp, same tags), so a resend cannot double a point that
was there after all.

Matching is by (probe, start time) at the sink's precision — VictoriaMetrics keeps
milliseconds, InfluxDB nanoseconds (the probe writes microseconds). A point the sink holds
more than once (two samples in VictoriaMetrics without dedup, two series at one instant in
InfluxDB) is reported as duplicated; it is not deleted (that is the operator's call).

:func:`audit` is what ``probe forward --audit`` and the agent's daily job call.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from probe.sinks.config import SinkConfig
from probe.sinks.lineprotocol import FIELD_NAMES, MEASUREMENT
from probe.sinks.readback import InfluxQLReader, VictoriaMetricsReader, quote_string


class Delivered(Protocol):
    @property
    def outbox_id(self) -> int: ...

    @property
    def measurement_id(self) -> str: ...

    @property
    def probe_id(self) -> str: ...

    @property
    def started_at_us(self) -> int: ...


class DeliveredLog(Protocol):
    """The store's side (SqliteStore and MemoryStore satisfy it by shape)."""

    def delivered_since(self, since: datetime | None = None) -> Sequence[Delivered]: ...

    def requeue(self, ids: Sequence[int]) -> int: ...


class StoredPoints(Protocol):
    """The sink's side: how many copies of each of a probe's points it holds."""

    precision_us: int

    def describe(self) -> str: ...

    def copies(self, probe_id: str, start: datetime, end: datetime) -> Counter[int]:
        """Timestamp (µs // precision_us) → copies held, for one probe in [start, end]."""
        ...


@dataclass
class AuditReport:
    since: datetime | None
    sink: str
    checked: int = 0  # delivered measurements looked for
    present: int = 0  # found exactly once
    duplicated: int = 0  # found more than once
    missing: int = 0  # not found: requeued
    requeued: int = 0
    missing_ids: list[str] = field(default_factory=list)

    def to_json_dict(self) -> dict[str, Any]:
        return {"since": None if self.since is None else self.since.isoformat(),
                "sink": self.sink, "checked": self.checked, "present": self.present,
                "duplicated": self.duplicated, "missing": self.missing,
                "requeued": self.requeued, "missing_ids": self.missing_ids[:100]}

    def summary(self) -> str:
        return (f"audit of {self.sink}: {self.checked} delivered measurement(s) checked, "
                f"{self.present} stored once, {self.duplicated} stored more than once, "
                f"{self.missing} missing ({self.requeued} requeued)")


def audit(log: DeliveredLog, sink: StoredPoints, *, since: datetime | None,
          until: datetime, requeue: bool = True) -> AuditReport:
    """Compare the store's deliveries since ``since`` with the sink; requeue what is missing."""
    report = AuditReport(since, sink.describe())
    delivered = list(log.delivered_since(since))
    by_probe: dict[str, list[Delivered]] = {}
    for entry in delivered:
        by_probe.setdefault(entry.probe_id, []).append(entry)
    lost: list[Delivered] = []
    for probe_id, entries in sorted(by_probe.items()):
        first = datetime.fromtimestamp(entries[0].started_at_us / 1e6, UTC)
        held = sink.copies(probe_id, since or first, until)
        for entry in entries:
            count = held.get(entry.started_at_us // sink.precision_us, 0)
            report.checked += 1
            if count == 0:
                lost.append(entry)
            elif count == 1:
                report.present += 1
            else:
                report.duplicated += 1
    report.missing = len(lost)
    report.missing_ids = [e.measurement_id for e in lost]
    if requeue and lost:
        report.requeued = log.requeue([e.outbox_id for e in lost])
    return report


class VictoriaMetricsPoints:
    """Copies per timestamp from ``/api/v1/export`` (raw samples, no query-time dedup)."""

    precision_us = 1000

    def __init__(self, reader: VictoriaMetricsReader) -> None:
        self.reader = reader

    def describe(self) -> str:
        return self.reader.describe()

    def copies(self, probe_id: str, start: datetime, end: datetime) -> Counter[int]:
        names = "|".join(sorted(f"{MEASUREMENT}_{f}" for f in FIELD_NAMES))
        label = probe_id.replace("\\", "\\\\").replace('"', '\\"')
        selector = f'{{__name__=~"{names}",probe_id="{label}"}}'
        # A point is one sample in each of its fields' series: count the most per instant.
        held: Counter[int] = Counter()
        for series in self.reader.export(selector, start=start, end=end):
            for ms, n in Counter(series.get("timestamps", ())).items():
                held[int(ms)] = max(held[int(ms)], n)
        return held


class InfluxPoints:
    """Copies per timestamp from InfluxQL: one row per series and instant."""

    precision_us = 1

    def __init__(self, reader: InfluxQLReader) -> None:
        self.reader = reader

    def describe(self) -> str:
        return self.reader.describe()

    def copies(self, probe_id: str, start: datetime, end: datetime) -> Counter[int]:
        held: Counter[int] = Counter()
        q = (f"SELECT * FROM {self.reader.source(MEASUREMENT)} WHERE probe_id = "
             f"{quote_string(probe_id)} AND time >= {int(start.timestamp() * 1e6) * 1000} "
             f"AND time <= {int(end.timestamp() * 1e6) * 1000} GROUP BY *")
        for columns, rows in self.reader.select(q):
            at = columns.index("time")
            for row in rows:
                held[int(row[at]) // 1000] += 1
        return held


def points_for(config: SinkConfig, *, timeout_s: float = 60.0) -> StoredPoints:
    """The read-back side of a configured sink."""
    if config.kind == "victoriametrics":
        return VictoriaMetricsPoints(VictoriaMetricsReader(config.url, timeout_s=timeout_s))
    db, _, rp = config.bucket.partition("/")
    return InfluxPoints(InfluxQLReader(config.url, db, rp=rp, token=config.token,
                                       timeout_s=timeout_s))
