"""An in-memory result store with the SQLite store's behaviour, for tests and dry runs.

It keeps the same contract (idempotent save, outbox order, rejections and quarantine, age
retention) so code written against ``ResultStore`` can be tested without a file. Size-based
retention is not modelled: there are no pages to count.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from probe.errors import StoreError
from probe.measurement import Measurement
from probe.store.records import (
    AgentEvent,
    DeliveredEntry,
    HistoryQuery,
    OutboxEntry,
    PruneResult,
    RetentionPolicy,
    StoredRecord,
    StoreStatus,
    VoidMark,
    figures_of,
    storable_json,
)
from probe.store.schema import SCHEMA_VERSION


@dataclass
class _Row:
    seq: int
    stored: StoredRecord
    started_at: datetime
    figures: dict[str, object]
    queued: bool = True
    rejections: int = 0
    quarantined: bool = False
    last_error: str | None = None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class MemoryStore:
    """ResultStore fake: everything in a dict, nothing survives the process."""

    path = ":fake:"

    def __init__(
        self,
        *,
        policy: RetentionPolicy | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.policy = policy or RetentionPolicy()
        self._clock = clock
        self._rows: dict[str, _Row] = {}
        self._next_seq = 1
        self._last_delivery: datetime | None = None
        self._last_error: tuple[str, datetime] | None = None
        self._events: list[AgentEvent] = []
        self._pruned_undelivered = 0
        self._state: dict[str, str] = {}

    def save(
        self,
        measurement: Measurement,
        *,
        probe_id: str,
        subscriber_id: str | None = None,
        contract_ref: str | None = None,
        verdict: str | None = None,
        fleet: Mapping[str, Any] | None = None,
    ) -> None:
        if measurement.id in self._rows:
            return
        # The same round trip the SQLite store makes, so the same records fail.
        record = json.loads(storable_json(measurement.id, measurement.to_json_dict()))
        stored = StoredRecord(record, probe_id, subscriber_id, contract_ref, verdict,
                              stored_at=self._clock(), delivered_at=None)
        self._rows[measurement.id] = _Row(self._next_seq, stored, measurement.started_at,
                                          figures_of(record, fleet), queued=not measurement.is_demo)
        self._next_seq += 1

    def history(
        self, since: datetime | None = None, *, limit: int | None = None
    ) -> list[StoredRecord]:
        return self.query(HistoryQuery(since=since, limit=limit))

    def query(self, query: HistoryQuery) -> list[StoredRecord]:
        rows = sorted(self._rows.values(), key=lambda r: (r.started_at, r.seq),
                      reverse=query.newest_first)
        picked = [r.stored for r in rows
                  if (query.since is None or r.started_at >= query.since)
                  and (query.until is None or r.started_at < query.until)
                  and (query.subscriber_id is None
                       or r.stored.subscriber_id == query.subscriber_id)]
        return picked if query.limit is None else picked[:query.limit]

    def void(self, measurement_id: str, *, by: str, reason: str) -> StoredRecord:
        if not reason.strip():
            raise StoreError("a void needs a reason (--reason TEXT)")
        found = [r for key, r in self._rows.items() if key == measurement_id] or (
            [r for key, r in self._rows.items() if key.startswith(measurement_id)]
            if len(measurement_id) >= 8 else [])
        if len(found) != 1:
            raise StoreError(f"no single measurement {measurement_id!r} in {self.path}")
        row = found[0]
        if row.stored.voided is not None:
            raise StoreError(f"measurement {row.stored.measurement_id} was already voided")
        row.stored = dataclasses.replace(
            row.stored, voided=VoidMark(self._clock(), by, reason.strip()))
        row.queued = False
        return row.stored

    def prune(self) -> PruneResult:
        removed = undelivered = 0
        if self.policy.max_age_days is not None:
            cutoff = self._clock() - timedelta(days=self.policy.max_age_days)
            for key, row in list(self._rows.items()):
                if row.started_at < cutoff:
                    removed += 1
                    undelivered += row.queued
                    del self._rows[key]
        self._pruned_undelivered += undelivered
        return PruneResult(removed, undelivered)

    def status(self) -> StoreStatus:
        starts = [r.started_at for r in self._rows.values()]
        queued = [r for r in self._rows.values() if r.queued]
        return StoreStatus(
            path=self.path, schema_version=SCHEMA_VERSION, measurements=len(self._rows),
            oldest_started_at=min(starts, default=None),
            newest_started_at=max(starts, default=None),
            backlog=sum(not r.quarantined for r in queued),
            quarantined=sum(r.quarantined for r in queued),
            last_delivery_at=self._last_delivery,
            last_error=None if self._last_error is None else self._last_error[0],
            last_error_at=None if self._last_error is None else self._last_error[1],
            pruned_undelivered=self._pruned_undelivered, size_bytes=0,
            voided=sum(r.stored.voided is not None for r in self._rows.values()),
        )

    def pending(self, limit: int, *, after: int = 0) -> list[OutboxEntry]:
        rows = sorted(
            (r for r in self._rows.values() if r.queued and not r.quarantined and r.seq > after),
            key=lambda r: r.seq,
        )[:limit]
        return [
            OutboxEntry(r.seq, r.figures, r.stored.probe_id, r.stored.subscriber_id,
                        r.stored.contract_ref, r.stored.verdict, r.rejections)
            for r in rows
        ]

    def mark_delivered(self, ids: Sequence[int]) -> None:
        now = self._clock()
        wanted = set(ids)
        for key, row in self._rows.items():
            if row.seq in wanted and row.queued:
                row.queued = False
                self._rows[key].stored = dataclasses.replace(row.stored, delivered_at=now)
        if ids:
            self._last_delivery = now

    def record_error(
        self,
        message: str,
        *,
        rejected_ids: Sequence[int] = (),
        quarantine_ids: Sequence[int] = (),
    ) -> None:
        self._last_error = (message, self._clock())
        for row in self._rows.values():
            if row.seq in rejected_ids or row.seq in quarantine_ids:
                row.rejections += 1
                row.last_error = message
                row.quarantined = row.quarantined or row.seq in quarantine_ids

    def requeue_quarantined(self) -> int:
        count = 0
        for row in self._rows.values():
            if row.quarantined:
                row.quarantined, row.rejections = False, 0
                count += 1
        return count

    def delivered_since(self, since: datetime | None = None) -> list[DeliveredEntry]:
        rows = sorted((r for r in self._rows.values() if r.stored.delivered_at is not None
                       and (since is None or r.started_at >= since)),
                      key=lambda r: (r.started_at, r.seq))
        return [DeliveredEntry(r.seq, r.stored.measurement_id, r.stored.probe_id,
                               (r.started_at - _EPOCH) // timedelta(microseconds=1))
                for r in rows]

    def requeue(self, ids: Sequence[int]) -> int:
        wanted, count = set(ids), 0
        for key, row in self._rows.items():
            if row.seq in wanted and not row.queued:
                row.queued = True
                s = row.stored
                self._rows[key].stored = StoredRecord(
                    s.record, s.probe_id, s.subscriber_id, s.contract_ref, s.verdict,
                    s.stored_at, None)
                count += 1
        return count

    def get_state(self, name: str) -> dict[str, Any] | None:
        text = self._state.get(name)
        return None if text is None else dict(json.loads(text))

    def put_state(self, name: str, value: Mapping[str, Any]) -> None:
        # Through JSON, as the file store does, so a value that would not survive it fails here.
        self._state[name] = json.dumps(value, sort_keys=True)

    def save_event(self, event: AgentEvent) -> None:
        # Through JSON, as the SQLite store does, so a detail it could not keep fails here too.
        detail = json.loads(json.dumps(dict(event.detail), allow_nan=False))
        self._events.append(AgentEvent(at=event.at, kind=event.kind, probe_id=event.probe_id,
                                       subscriber_id=event.subscriber_id, detail=detail))

    def events(self, kind: str | None = None, *, limit: int | None = None) -> list[AgentEvent]:
        picked = [e for e in self._events if kind is None or e.kind == kind]
        return picked if limit is None else picked[len(picked) - limit:] if limit else []

    def close(self) -> None:
        """Nothing to release."""
