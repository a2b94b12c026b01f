"""The embedded result store: one SQLite file in WAL mode holding every measurement and the outbox.

Durability rule: ``save()`` returns only after the measurement (full JSON record with raw
samples) and its outbox row are committed together and fsynced (the connection's settings and
error messages are :mod:`probe.store.connection`'s). This module owns the records: saving,
querying, voiding, retention, status, the agent's named state and events, and the evidence
views (hash chain, void marks); the outbox side is :mod:`probe.store.outbox`'s.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from probe.errors import StoreError
from probe.evidence.chain import ChainedEntry
from probe.measurement import Measurement
from probe.store import chainlog, retention, schema
from probe.store.connection import (
    DEFAULT_BUSY_TIMEOUT_S,
    EPOCH,
    connect,
    from_us,
    to_us,
    translate_errors,
    utc_now,
)
from probe.store.outbox import OutboxTables
from probe.store.records import (
    AgentEvent,
    HistoryQuery,
    PruneResult,
    RetentionPolicy,
    StoredRecord,
    StoreStatus,
    VoidMark,
    figures_of,
    storable_json,
)

# Retention runs after every this many saves (and on request); it is cheap but not free.
PRUNE_EVERY_SAVES = 50


class SqliteStore(OutboxTables):
    """The SQLite result store; also the forwarder's outbox (see probe.sinks.forwarder)."""
    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        policy: RetentionPolicy | None = None,
        clock: Callable[[], datetime] = utc_now,
        busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
    ) -> SqliteStore:
        """Open (creating parent directory, file and schema if needed) or raise StoreError."""
        conn, where = connect(path, busy_timeout_s)
        return cls(conn, where, policy=policy or RetentionPolicy(), clock=clock)

    # -- results -------------------------------------------------------------------------------

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
        """Commit the measurement and queue it for forwarding; saving an id again is a no-op."""
        record = measurement.to_json_dict()
        record_json = storable_json(measurement.id, record)
        figures_json = storable_json(measurement.id, figures_of(record, fleet))
        with self._transaction("save a measurement to"):
            cur = self._conn.execute(
                "INSERT INTO measurements (id, probe_id, subscriber_id, contract_ref, verdict,"
                " started_at_us, download_mbps, upload_mbps, latency_ms, stored_at_us,"
                " figures_json) VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (id) DO NOTHING",
                (
                    measurement.id, probe_id, subscriber_id, contract_ref, verdict,
                    to_us(measurement.started_at), measurement.download_mbps,
                    measurement.upload_mbps, measurement.latency_ms, to_us(self._clock()),
                    figures_json,
                ),
            )
            if cur.rowcount == 1:
                seq = cur.lastrowid
                self._conn.execute(
                    "INSERT INTO records (seq, record_json) VALUES (?, ?)", (seq, record_json)
                )
                assert seq is not None  # sqlite3 sets it after a one-row INSERT
                chainlog.append(self._conn, seq)
                if not measurement.is_demo:  # demo records are kept but never forwarded
                    self._conn.execute("INSERT INTO outbox (seq) VALUES (?)", (seq,))
        self._saves += 1
        if self._saves % PRUNE_EVERY_SAVES == 0:
            self.prune()

    def history(
        self, since: datetime | None = None, *, limit: int | None = None
    ) -> list[StoredRecord]:
        """Stored measurements started at or after ``since``, oldest first."""
        return list(self.iter_query(HistoryQuery(since=since, limit=limit)))

    def iter_history(
        self, since: datetime | None = None, *, limit: int | None = None
    ) -> Iterator[StoredRecord]:
        """Like history(), streaming (for exports larger than memory)."""
        return self.iter_query(HistoryQuery(since=since, limit=limit))

    def query(self, query: HistoryQuery) -> list[StoredRecord]:
        """Stored measurements in ``query``'s range, of its subscriber, in its order."""
        return list(self.iter_query(query))

    def iter_query(self, query: HistoryQuery) -> Iterator[StoredRecord]:
        """Like query(), streaming."""
        order = "DESC" if query.newest_first else "ASC"
        return self._select(
            "m.started_at_us >= ? AND m.started_at_us < ? AND (? IS NULL OR m.subscriber_id = ?)"
            f" ORDER BY m.started_at_us {order}, m.seq {order} LIMIT ?",
            (-(2**62) if query.since is None else to_us(query.since),
             2**62 if query.until is None else to_us(query.until),
             query.subscriber_id, query.subscriber_id,
             -1 if query.limit is None else query.limit),
        )

    def _select(self, where: str, params: tuple[Any, ...]) -> Iterator[StoredRecord]:
        sql = (
            "SELECT r.record_json, m.probe_id, m.subscriber_id, m.contract_ref, m.verdict,"
            " m.stored_at_us, d.delivered_at_us, v.voided_at_us, v.voided_by, v.reason"
            " FROM measurements m JOIN records r USING (seq)"
            " LEFT JOIN delivered d USING (seq) LEFT JOIN voids v USING (seq) WHERE " + where
        )
        with translate_errors(self.path, "read"):
            rows = self._conn.execute(sql, params)
            for rec, probe, sub, contract, verdict, stored, delivered, v_at, v_by, v_why in rows:
                yield StoredRecord(
                    record=json.loads(rec), probe_id=probe, subscriber_id=sub,
                    contract_ref=contract, verdict=verdict,
                    stored_at=from_us(stored) or EPOCH, delivered_at=from_us(delivered),
                    voided=None if v_at is None else VoidMark(from_us(v_at) or EPOCH, v_by,
                                                              v_why),
                )

    def void(self, measurement_id: str, *, by: str, reason: str) -> StoredRecord:
        """Mark a stored measurement as not evidence: who, when, why, kept beside the record.

        The record itself is not changed or deleted; it leaves the outbox (a voided record is
        never forwarded). ``measurement_id`` may be a unique prefix of at least 8 characters.
        """
        if not reason.strip():
            raise StoreError("a void needs a reason (--reason TEXT)")
        with self._transaction("void a measurement in"):
            seq, full_id = self._find(measurement_id)
            done = self._conn.execute(
                "SELECT voided_at_us, voided_by, reason FROM voids WHERE seq = ?", (seq,)
            ).fetchone()
            if done is not None:
                raise StoreError(f"measurement {full_id} was already voided at "
                                 f"{from_us(done[0])} by {done[1]}: {done[2]}")
            self._conn.execute(
                "INSERT INTO voids (seq, voided_at_us, voided_by, reason) VALUES (?, ?, ?, ?)",
                (seq, to_us(self._clock()), by, reason.strip()),
            )
            self._conn.execute("DELETE FROM outbox WHERE seq = ?", (seq,))
        return next(self._select("m.seq = ?", (seq,)))

    def _find(self, measurement_id: str) -> tuple[int, str]:
        """(seq, full id) of the one measurement whose id is or starts with ``measurement_id``."""
        wanted = measurement_id.strip()
        found = self._conn.execute(
            "SELECT seq, id FROM measurements WHERE id = ?", (wanted,)).fetchall()
        if not found and len(wanted) >= 8:
            found = self._conn.execute(
                "SELECT seq, id FROM measurements WHERE substr(id, 1, ?) = ? LIMIT 2",
                (len(wanted), wanted)).fetchall()
        if not found:
            raise StoreError(f"no measurement {wanted!r} in {self.path} (see probe history)")
        if len(found) > 1:
            raise StoreError(f"{wanted!r} matches several measurements; give more of the id")
        return int(found[0][0]), str(found[0][1])

    def prune(self) -> PruneResult:
        """Apply the retention policy (age, then size), oldest measurements first."""
        with self._transaction("apply retention to"):
            return retention.prune(self._conn, self.policy, to_us(self._clock()))

    def status(self) -> StoreStatus:
        with translate_errors(self.path, "read"):
            count, oldest, newest = self._conn.execute(
                "SELECT count(*), min(started_at_us), max(started_at_us) FROM measurements"
            ).fetchone()
            backlog, quarantined = self._conn.execute(
                "SELECT count(*) - count(quarantined_at_us), count(quarantined_at_us) FROM outbox"
            ).fetchone()
            last_delivery, last_error, last_error_at, pruned = self._conn.execute(
                "SELECT last_delivery_at_us, last_error, last_error_at_us, pruned_undelivered"
                " FROM sink_state WHERE id = 1"
            ).fetchone()
            return StoreStatus(
                path=self.path, schema_version=schema.SCHEMA_VERSION, measurements=count,
                oldest_started_at=from_us(oldest), newest_started_at=from_us(newest),
                backlog=backlog, quarantined=quarantined,
                last_delivery_at=from_us(last_delivery), last_error=last_error,
                last_error_at=from_us(last_error_at), pruned_undelivered=pruned,
                size_bytes=retention.used_bytes(self._conn),
                voided=self._conn.execute("SELECT count(*) FROM voids").fetchone()[0],
            )

    def integrity_check(self) -> list[str]:
        """SQLite's ``PRAGMA integrity_check``: ``["ok"]`` or the problems it found."""
        with translate_errors(self.path, "check"):
            return [str(row[0]) for row in self._conn.execute("PRAGMA integrity_check")]

    # -- named state of long-running writers (the agent) -----------------------------------

    def get_state(self, name: str) -> dict[str, Any] | None:
        """The JSON document last stored under ``name``, or None."""
        with translate_errors(self.path, "read"):
            row = self._conn.execute(
                "SELECT value_json FROM agent_state WHERE name = ?", (name,)
            ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def put_state(self, name: str, value: Mapping[str, Any]) -> None:
        """Replace the document under ``name`` (committed and fsynced like a measurement)."""
        text = json.dumps(value, separators=(",", ":"), sort_keys=True)
        with self._transaction("save agent state in"):
            self._conn.execute(
                "INSERT INTO agent_state (name, value_json, updated_at_us) VALUES (?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET value_json = excluded.value_json,"
                " updated_at_us = excluded.updated_at_us",
                (name, text, to_us(self._clock())),
            )

    # -- agent events --------------------------------------------------------------------------

    def save_event(self, event: AgentEvent) -> None:
        """Keep one agent event (a deferral, a skip, an alert transition)."""
        detail = json.dumps(dict(event.detail), allow_nan=False, separators=(",", ":"))
        with self._transaction("save an agent event to"):
            self._conn.execute(
                "INSERT INTO events (at_us, kind, probe_id, subscriber_id, detail_json)"
                " VALUES (?,?,?,?,?)",
                (to_us(event.at), event.kind, event.probe_id, event.subscriber_id, detail))

    def events(self, kind: str | None = None, *, limit: int | None = None) -> list[AgentEvent]:
        """Agent events, oldest first; only ``kind`` when given; the newest ``limit``."""
        where, args = ("WHERE kind = ?", [kind]) if kind is not None else ("", [])
        with translate_errors(self.path, "read agent events from"):
            rows = self._conn.execute(
                f"SELECT at_us, kind, probe_id, subscriber_id, detail_json FROM events {where}"
                " ORDER BY seq DESC LIMIT ?", (*args, -1 if limit is None else limit)).fetchall()
        return [AgentEvent(at=from_us(at) or utc_now(), kind=k, probe_id=probe,
                           subscriber_id=sub, detail=json.loads(detail))
                for at, k, probe, sub, detail in reversed(rows)]

    # -- evidence ------------------------------------------------------------------------------

    def chain_links(self, since: datetime | None = None) -> list[ChainedEntry]:
        """The hash chain from the first record started at or after ``since`` to the newest.

        The stretch is contiguous in storage order (a pack must not skip links), so a record
        stored later but started before ``since`` is included too.
        """
        with translate_errors(self.path, "read the hash chain of"):
            row = self._conn.execute(
                "SELECT min(seq) FROM measurements WHERE started_at_us >= ?",
                (-(2**62) if since is None else to_us(since),)).fetchone()
            if row[0] is None:
                return []
            return list(chainlog.iter_links(self._conn, int(row[0])))

    def void_marks(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        """The void marks (who, when, why) of these measurements, where the store has voids."""
        with translate_errors(self.path, "read the voids of"):
            has = self._conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'voids'").fetchone()
            if has is None or not ids:
                return []
            rows = self._conn.execute(
                "SELECT m.id, v.voided_at_us, v.voided_by, v.reason FROM voids v"
                " JOIN measurements m USING (seq) WHERE m.id IN (SELECT value FROM json_each(?))"
                " ORDER BY v.voided_at_us", (json.dumps(list(ids)),)).fetchall()
        return [{"id": i, "voided_at": (from_us(at) or EPOCH).isoformat(), "voided_by": by,
                 "reason": why} for i, at, by, why in rows]

    # -- lifecycle -----------------------------------------------------------------------------


