"""The outbox side of the result store: what the forwarder takes, and what became of it.

Structurally satisfies ``probe.sinks.forwarder.Outbox`` (pending entries in order, delivered,
refused or quarantined) and ``probe.sinks.audit.DeliveredLog`` (what was acknowledged, and
requeueing what a sink lost); the store never imports the sinks, they meet in the CLI and the
agent.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from probe.store.connection import StoreConnection, to_us, translate_errors
from probe.store.records import DeliveredEntry, OutboxEntry

MAX_ERROR_TEXT = 500


class OutboxTables(StoreConnection):
    """The outbox, the delivery stamps and the sink's last error, on the store's connection."""

    def pending(self, limit: int, *, after: int = 0) -> list[OutboxEntry]:
        """Up to ``limit`` queued, non-quarantined entries with ``outbox_id > after``, in order."""
        with translate_errors(self.path, "read the outbox of"):
            rows = self._conn.execute(
                "SELECT o.seq, m.figures_json, o.rejections, m.probe_id, m.subscriber_id,"
                " m.contract_ref, m.verdict FROM outbox o JOIN measurements m USING (seq)"
                " WHERE o.seq > ? AND o.quarantined_at_us IS NULL ORDER BY o.seq LIMIT ?",
                (after, limit),
            ).fetchall()
        # One parse of one JSON array instead of thousands of json.loads calls: the per-call
        # overhead was ~40 % of the forwarder's time.
        all_figures = json.loads("[" + ",".join(row[1] for row in rows) + "]")
        return [
            OutboxEntry(
                outbox_id=seq, figures=figures, probe_id=probe,
                subscriber_id=sub, contract_ref=contract, verdict=verdict, rejections=rejections,
            )
            for (seq, _, rejections, probe, sub, contract, verdict), figures
            in zip(rows, all_figures, strict=True)
        ]

    def mark_delivered(self, ids: Sequence[int]) -> None:
        """Remove acknowledged entries from the outbox and stamp their delivery time."""
        if not ids:
            return
        now = to_us(self._clock())
        # One statement per table over a JSON array: thousands of ids cost one B-tree walk
        # each instead of one statement each.
        id_list = json.dumps([int(i) for i in ids])
        with self._transaction("record a delivery in"):
            self._conn.execute(
                "INSERT OR IGNORE INTO delivered (seq, delivered_at_us) SELECT o.seq, ?"
                " FROM outbox o WHERE o.seq IN (SELECT value FROM json_each(?))",
                (now, id_list),
            )
            self._conn.execute(
                "DELETE FROM outbox WHERE seq IN (SELECT value FROM json_each(?))", (id_list,)
            )
            self._conn.execute(
                "UPDATE sink_state SET last_delivery_at_us = ? WHERE id = 1", (now,)
            )

    def record_error(
        self,
        message: str,
        *,
        rejected_ids: Sequence[int] = (),
        quarantine_ids: Sequence[int] = (),
    ) -> None:
        """Remember the last sink error; count rejections; set poison entries aside."""
        now = to_us(self._clock())
        text = message[:MAX_ERROR_TEXT]
        with self._transaction("record a sink error in"):
            self._conn.execute(
                "UPDATE sink_state SET last_error = ?, last_error_at_us = ? WHERE id = 1",
                (text, now),
            )
            self._conn.executemany(
                "UPDATE outbox SET rejections = rejections + 1, last_error = ? WHERE seq = ?",
                [(text, i) for i in rejected_ids],
            )
            self._conn.executemany(
                "UPDATE outbox SET rejections = rejections + 1, last_error = ?,"
                " quarantined_at_us = ? WHERE seq = ?",
                [(text, now, i) for i in quarantine_ids],
            )

    def requeue_quarantined(self) -> int:
        """Give quarantined entries another chance (after the sink's schema was fixed)."""
        with self._transaction("requeue quarantined entries in"):
            cur = self._conn.execute(
                "UPDATE outbox SET quarantined_at_us = NULL, rejections = 0"
                " WHERE quarantined_at_us IS NOT NULL"
            )
            return int(cur.rowcount)

    def quarantined(self) -> list[tuple[int, str, str]]:
        """(outbox id, measurement id, last error) of every quarantined entry."""
        with translate_errors(self.path, "read the outbox of"):
            rows = self._conn.execute(
                "SELECT o.seq, m.id, coalesce(o.last_error, '') FROM outbox o"
                " JOIN measurements m USING (seq) WHERE o.quarantined_at_us IS NOT NULL"
                " ORDER BY o.seq"
            ).fetchall()
        return [(int(a), str(b), str(c)) for a, b, c in rows]


    def delivered_since(self, since: datetime | None = None) -> list[DeliveredEntry]:
        """Acknowledged measurements started at or after ``since``, oldest first."""
        with translate_errors(self.path, "read the deliveries of"):
            rows = self._conn.execute(
                "SELECT m.seq, m.id, m.probe_id, m.started_at_us FROM measurements m"
                " JOIN delivered d USING (seq) WHERE m.started_at_us >= ?"
                " ORDER BY m.started_at_us, m.seq",
                (-(2**62) if since is None else to_us(since),),
            ).fetchall()
        return [DeliveredEntry(int(a), str(b), str(c), int(d)) for a, b, c, d in rows]

    def requeue(self, ids: Sequence[int]) -> int:
        """Put delivered measurements back in the outbox (the sink lost them); returns how many
        were requeued. Their delivery stamp goes: they are not delivered until sent again."""
        id_list = json.dumps([int(i) for i in ids])
        with self._transaction("requeue measurements in"):
            self._conn.execute(
                "DELETE FROM delivered WHERE seq IN (SELECT value FROM json_each(?))", (id_list,))
            cur = self._conn.execute(
                "INSERT OR IGNORE INTO outbox (seq) SELECT m.seq FROM measurements m"
                " WHERE m.seq IN (SELECT value FROM json_each(?))", (id_list,))
            return int(cur.rowcount)
