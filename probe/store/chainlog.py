"""The store's side of the hash chain: linking each saved record to the one before it, linking
records saved before the chain existed, and reading a stretch of the chain for a pack.

The digest rule lives in :mod:`probe.evidence.chain`; this module only keeps the links in the
``chain`` table (schema migration 4), inside the caller's transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from typing import Any

from probe.evidence.chain import GENESIS, ChainedEntry, entry_of, link_digest

_ENTRY_SQL = (
    "SELECT m.seq, r.record_json, m.probe_id, m.subscriber_id, m.contract_ref, m.verdict,"
    " m.stored_at_us FROM measurements m JOIN records r USING (seq)"
)


def _entry(row: tuple[Any, ...]) -> tuple[int, dict[str, Any]]:
    seq, record_json, probe, sub, contract, verdict, stored = row
    return int(seq), entry_of(json.loads(record_json), probe_id=probe, subscriber_id=sub,
                              contract_ref=contract, verdict=verdict, stored_at_us=int(stored))


def _head(conn: sqlite3.Connection) -> str:
    row = conn.execute("SELECT digest FROM chain ORDER BY seq DESC LIMIT 1").fetchone()
    return GENESIS if row is None else str(row[0])


def append(conn: sqlite3.Connection, seq: int) -> str:
    """Link the measurement ``seq`` (just inserted, in this transaction); returns its digest."""
    seq_, entry = _entry(conn.execute(_ENTRY_SQL + " WHERE m.seq = ?", (seq,)).fetchone())
    prev = _head(conn)
    digest = link_digest(prev, entry)
    conn.execute("INSERT INTO chain (seq, prev_digest, digest) VALUES (?, ?, ?)",
                 (seq_, prev, digest))
    return digest


def backfill(conn: sqlite3.Connection) -> int:
    """Link every measurement that has no link yet, in insertion order (within a transaction)."""
    rows = conn.execute(_ENTRY_SQL + " WHERE m.seq NOT IN (SELECT seq FROM chain)"
                                     " ORDER BY m.seq").fetchall()
    for row in rows:
        append(conn, int(row[0]))
    return len(rows)


def iter_links(conn: sqlite3.Connection, first_seq: int = 0) -> Iterator[ChainedEntry]:
    """Links from ``first_seq`` on, oldest first: the entry as stored now, and its digests."""
    sql = ("SELECT m.seq, r.record_json, m.probe_id, m.subscriber_id, m.contract_ref,"
           " m.verdict, m.stored_at_us, c.prev_digest, c.digest FROM measurements m"
           " JOIN records r USING (seq) JOIN chain c USING (seq) WHERE m.seq >= ?"
           " ORDER BY m.seq")
    for row in conn.execute(sql, (first_seq,)):
        _, entry = _entry(row[:7])
        yield ChainedEntry(entry, str(row[7]), str(row[8]))
