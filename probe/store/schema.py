"""The store's SQL schema as an ordered list of migrations, applied under ``PRAGMA user_version``.

Migration *n* (1-based) takes a store from version n-1 to n. Each runs in one ``BEGIN
IMMEDIATE`` transaction together with its ``user_version`` bump, so a crash mid-migration
leaves the old version intact. Never edit a released migration: append a new one.
"""

from __future__ import annotations

import sqlite3

from probe.errors import StoreError

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: measurements (labels, indexed figures), full records, outbox, deliveries, sink state.
    (
        # AUTOINCREMENT: a pruned row's seq is never reused, so a late mark_delivered from a
        # forwarder that started before the prune can never hit a different measurement.
        """CREATE TABLE measurements (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            probe_id TEXT NOT NULL,
            subscriber_id TEXT,
            contract_ref TEXT,
            verdict TEXT,
            started_at_us INTEGER NOT NULL,
            download_mbps REAL,
            upload_mbps REAL,
            latency_ms REAL,
            stored_at_us INTEGER NOT NULL,
            -- The flat figures (no raw samples), what the forwarder sends.
            figures_json TEXT NOT NULL
        )""",
        # The full record (raw samples, kBs) in its own table keeps measurement rows small and
        # dense, so listing, forwarding and retention never page through the samples.
        """CREATE TABLE records (
            seq INTEGER PRIMARY KEY REFERENCES measurements (seq) ON DELETE CASCADE,
            record_json TEXT NOT NULL
        )""",
        "CREATE INDEX measurements_started_at ON measurements (started_at_us)",
        "CREATE INDEX measurements_subscriber ON measurements (subscriber_id, started_at_us)",
        # The outbox: one small row per undelivered measurement (small, so deleting thousands
        # on delivery is cheap); rows leave it when a sink has acknowledged them with a 2xx.
        """CREATE TABLE outbox (
            seq INTEGER PRIMARY KEY REFERENCES measurements (seq) ON DELETE CASCADE,
            rejections INTEGER NOT NULL DEFAULT 0,
            quarantined_at_us INTEGER,
            last_error TEXT
        )""",
        # Delivery times live apart from the measurements: updating a measurement row would
        # rewrite its whole multi-kB record (SQLite rewrites a row's overflow pages).
        """CREATE TABLE delivered (
            seq INTEGER PRIMARY KEY REFERENCES measurements (seq) ON DELETE CASCADE,
            delivered_at_us INTEGER NOT NULL
        )""",
        """CREATE TABLE sink_state (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            last_delivery_at_us INTEGER,
            last_error TEXT,
            last_error_at_us INTEGER,
            pruned_undelivered INTEGER NOT NULL DEFAULT 0
        )""",
        "INSERT INTO sink_state (id) VALUES (1)",
    ),
    # 2: state a long-running writer keeps across restarts (the agent's counters and rhythm),
    # one JSON document per name, written in its own small transaction.
    (
        """CREATE TABLE agent_state (
            name TEXT PRIMARY KEY,
            value_json TEXT NOT NULL,
            updated_at_us INTEGER NOT NULL
        )""",
    ),
    # 3: the agent's events — tests deferred or skipped by gating (with the cross-traffic seen)
    # and alert transitions — kept beside the measurements they explain.
    (
        """CREATE TABLE events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            at_us INTEGER NOT NULL,
            kind TEXT NOT NULL,
            probe_id TEXT NOT NULL,
            subscriber_id TEXT,
            detail_json TEXT NOT NULL
        )""",
        "CREATE INDEX events_kind_at ON events (kind, at_us)",
    ),
    # 4: the hash chain over stored records (probe.evidence.chain): one link per measurement,
    # in insertion order. Rows stored before this migration are linked when the store is
    # next opened (probe.store.chainlog.backfill). Retention trims links with their records
    # from the front; the first kept link's prev_digest is the anchor a pack is checked from.
    (
        """CREATE TABLE chain (
            seq INTEGER PRIMARY KEY REFERENCES measurements (seq) ON DELETE CASCADE,
            prev_digest TEXT NOT NULL,
            digest TEXT NOT NULL
        )""",
    ),
    # 5: voiding. A void is an appended fact (who, when, why) beside the untouched record, so
    # a chain of evidence over the records stays intact; a voided record leaves the outbox.
    # Demo records (probe demo) are never evidence: take any queued ones out of the outbox.
    (
        """CREATE TABLE voids (
            seq INTEGER PRIMARY KEY REFERENCES measurements (seq) ON DELETE CASCADE,
            voided_at_us INTEGER NOT NULL,
            voided_by TEXT NOT NULL,
            reason TEXT NOT NULL
        )""",
        """DELETE FROM outbox WHERE seq IN (
            SELECT m.seq FROM measurements m, json_each(m.figures_json, '$.flags') f
            WHERE f.value IN ('demo', 'loopback_demo'))""",
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection, path: str) -> int:
    """Bring the store to SCHEMA_VERSION; returns the version found before. Autocommit conn."""
    found = _user_version(conn)
    if found > SCHEMA_VERSION:
        raise StoreError(
            f"the result store {path} has schema version {found}, newer than this probe "
            f"understands ({SCHEMA_VERSION}); upgrade the probe or use another --db"
        )
    if found == SCHEMA_VERSION:
        return found
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Read again under the write lock: another process may have migrated meanwhile.
        current = _user_version(conn)
        for version in range(current + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[version - 1]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version:d}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return found


def _user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])
