"""What the result store hands out and takes in: stored records, outbox entries, status, policy.

These values are shared by the SQLite store and its in-memory fake, and the ``ResultStore``
protocol is the interface the CLI programs against. ``OutboxEntry`` carries the record's flat
JSON figures and labels; it satisfies the sinks' ``PointSource``/``OutboxEntry`` protocols by
shape alone, so neither adapter imports the other.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from probe.errors import StoreError
from probe.measurement import Measurement, is_demo

DEFAULT_DB_NAME = "probe.db"
ROOT_STATE_DIR = Path("/var/lib/probe")
STATE_DIR_ENV = "PROBE_STATE_DIR"

# Two years: EU contract terms run up to 24 months, and a dispute may reach back that far.
DEFAULT_MAX_AGE_DAYS = 730
# A measurement with raw samples is 5-20 kB; 512 MiB holds years at 96 measurements a day and
# still fits the flash of a small router or SBC. Both limits are settings.
DEFAULT_MAX_BYTES = 512 * 1024 * 1024

# Keys of Measurement.to_json_dict() that are bulky detail, not figures a sink needs.
DETAIL_KEYS = frozenset({"samples", "download", "upload"})


def default_db_path(env: Mapping[str, str] | None = None) -> Path:
    """``$PROBE_STATE_DIR/probe.db``, else /var/lib/probe (root) or ~/.local/state/probe."""
    env = os.environ if env is None else env
    if env.get(STATE_DIR_ENV):
        return Path(env[STATE_DIR_ENV]) / DEFAULT_DB_NAME
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return ROOT_STATE_DIR / DEFAULT_DB_NAME
    base = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "probe" / DEFAULT_DB_NAME


def figures_of(
    record: Mapping[str, Any], fleet: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The record's flat JSON form without the raw samples (what the outbox keeps), plus the
    fleet labels of the contract it was checked against under ``"fleet"`` (what the sink
    encoder writes as plan/region/... tags and contracted-rate fields)."""
    figures = {k: v for k, v in record.items() if k not in DETAIL_KEYS}
    if fleet:
        figures["fleet"] = dict(fleet)
    return figures


def storable_json(measurement_id: str, value: Mapping[str, Any]) -> str:
    """``value`` (a record or its figures) as compact JSON; NaN and infinity are refused with a
    StoreError naming the measurement, since SQLite's JSON and the sinks cannot hold them."""
    try:
        return json.dumps(value, separators=(",", ":"), allow_nan=False)
    except ValueError as exc:
        raise StoreError(f"measurement {measurement_id} cannot be stored: {exc}") from exc


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How much history to keep; the oldest measurements go first."""

    max_age_days: float | None = DEFAULT_MAX_AGE_DAYS
    max_bytes: int | None = DEFAULT_MAX_BYTES


@dataclass(frozen=True, slots=True)
class VoidMark:
    """Why a stored record is no longer evidence: an appended fact, the record is untouched."""

    voided_at: datetime
    voided_by: str
    reason: str

    def to_json_dict(self) -> dict[str, Any]:
        return {"at": self.voided_at.isoformat(), "by": self.voided_by, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    """Which stored measurements to list: a time range, one subscriber, order and count."""

    since: datetime | None = None
    until: datetime | None = None  # exclusive
    subscriber_id: str | None = None
    newest_first: bool = False
    limit: int | None = None


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """One stored measurement: the full JSON record plus its labels and delivery state."""

    record: Mapping[str, Any]
    probe_id: str
    subscriber_id: str | None
    contract_ref: str | None
    verdict: str | None
    stored_at: datetime
    delivered_at: datetime | None
    voided: VoidMark | None = None

    @property
    def is_demo(self) -> bool:
        return is_demo(self.record.get("flags"))

    @property
    def is_evidence(self) -> bool:
        """Neither voided nor made by ``probe demo``."""
        return self.voided is None and not self.is_demo

    @property
    def measurement_id(self) -> str:
        return str(self.record["id"])

    @property
    def measurement(self) -> Measurement:
        return Measurement.from_json_dict(self.record)

    def to_export_dict(self) -> dict[str, Any]:
        """The record as ``probe export`` writes it: ``probe measure --json``'s object + labels."""
        out = dict(self.record)
        out.update(
            probe_id=self.probe_id,
            subscriber_id=self.subscriber_id,
            contract_ref=self.contract_ref,
            verdict=self.verdict,
        )
        if self.voided is not None:
            out["voided"] = self.voided.to_json_dict()  # probe evaluate leaves it out
        return out


@dataclass(frozen=True, slots=True)
class AgentEvent:
    """Something the agent did instead of (or after) a test: ``deferred``, ``skipped``,
    ``alert`` ..., at an aware UTC time, with its details (rates seen, reason, the alert)."""

    at: datetime
    kind: str
    probe_id: str
    detail: Mapping[str, Any]
    subscriber_id: str | None = None

    def to_json_dict(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "kind": self.kind, "probe_id": self.probe_id,
                "subscriber_id": self.subscriber_id, "detail": dict(self.detail)}


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """A measurement waiting to be forwarded; ``rejections`` counts 4xx refusals of it alone."""

    outbox_id: int
    figures: Mapping[str, Any]
    probe_id: str
    subscriber_id: str | None
    contract_ref: str | None
    verdict: str | None
    rejections: int


@dataclass(frozen=True, slots=True)
class DeliveredEntry:
    """A measurement a sink acknowledged: what the delivery audit looks for in the sink."""

    outbox_id: int
    measurement_id: str
    probe_id: str
    started_at_us: int  # the point's timestamp, microseconds since the epoch


@dataclass(frozen=True, slots=True)
class PruneResult:
    """What one retention pass removed; undelivered rows are counted so no loss is silent."""

    removed: int
    removed_undelivered: int


@dataclass(frozen=True, slots=True)
class StoreStatus:
    """The store's state as ``probe status`` shows it."""

    path: str
    schema_version: int
    measurements: int
    oldest_started_at: datetime | None
    newest_started_at: datetime | None
    backlog: int
    quarantined: int
    last_delivery_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    pruned_undelivered: int
    size_bytes: int
    voided: int = 0

    def to_json_dict(self) -> dict[str, Any]:
        def iso(moment: datetime | None) -> str | None:
            return None if moment is None else moment.isoformat()

        return {
            "path": self.path,
            "schema_version": self.schema_version,
            "measurements": self.measurements,
            "oldest_started_at": iso(self.oldest_started_at),
            "newest_started_at": iso(self.newest_started_at),
            "backlog": self.backlog,
            "quarantined": self.quarantined,
            "last_delivery_at": iso(self.last_delivery_at),
            "last_error": self.last_error,
            "last_error_at": iso(self.last_error_at),
            "pruned_undelivered": self.pruned_undelivered,
            "size_bytes": self.size_bytes,
            "voided": self.voided,
        }


class ResultStore(Protocol):
    """The store interface the CLI uses; SqliteStore and MemoryStore both provide it."""

    def save(
        self,
        measurement: Measurement,
        *,
        probe_id: str,
        subscriber_id: str | None = None,
        contract_ref: str | None = None,
        verdict: str | None = None,
        fleet: Mapping[str, Any] | None = None,
    ) -> None: ...

    def history(
        self, since: datetime | None = None, *, limit: int | None = None
    ) -> list[StoredRecord]: ...

    def query(self, query: HistoryQuery) -> list[StoredRecord]: ...

    def void(self, measurement_id: str, *, by: str, reason: str) -> StoredRecord: ...

    def status(self) -> StoreStatus: ...

    def prune(self) -> PruneResult: ...

    def pending(self, limit: int, *, after: int = 0) -> Sequence[OutboxEntry]: ...

    def mark_delivered(self, ids: Sequence[int]) -> None: ...

    def record_error(
        self,
        message: str,
        *,
        rejected_ids: Sequence[int] = (),
        quarantine_ids: Sequence[int] = (),
    ) -> None: ...

    def requeue_quarantined(self) -> int: ...

    def save_event(self, event: AgentEvent) -> None: ...

    def events(self, kind: str | None = None, *, limit: int | None = None) -> list[AgentEvent]:
        ...

    def close(self) -> None: ...
