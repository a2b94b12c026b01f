"""Retention: keep the store bounded by age and by size, dropping the oldest measurements first.

The size is the bytes of pages in use (``page_count - freelist_count``); SQLite reuses freed
pages, so the file stays at its high-water mark but stops growing once the cap is reached.
Undelivered measurements are dropped like any other (a store-only probe must stay bounded too),
but they are counted in ``sink_state.pruned_undelivered`` so ``probe status`` shows the loss.
Runs inside the caller's write transaction.
"""

from __future__ import annotations

import math
import sqlite3

from probe.store.records import PruneResult, RetentionPolicy

_US_PER_DAY = 86_400 * 1_000_000
# Bounded so a pathological page layout cannot keep a writer inside the loop for long.
_MAX_SIZE_PASSES = 20


def used_bytes(conn: sqlite3.Connection) -> int:
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    return int((pages - free) * page_size)


def prune(conn: sqlite3.Connection, policy: RetentionPolicy, now_us: int) -> PruneResult:
    removed = removed_undelivered = 0
    if policy.max_age_days is not None:
        cutoff = now_us - int(policy.max_age_days * _US_PER_DAY)
        r, u = _delete_where(conn, "started_at_us < ?", (cutoff,))
        removed, removed_undelivered = removed + r, removed_undelivered + u
    if policy.max_bytes is not None:
        for _ in range(_MAX_SIZE_PASSES):
            used = used_bytes(conn)
            if used <= policy.max_bytes:
                break
            count = conn.execute("SELECT count(*) FROM measurements").fetchone()[0]
            if count == 0:
                break
            # Estimate how many of the oldest rows free enough pages; overshoot by one.
            share = (used - policy.max_bytes) / used
            victims = min(count, max(1, math.ceil(count * share) + 1))
            r, u = _delete_where(
                conn,
                "seq IN (SELECT seq FROM measurements ORDER BY started_at_us, seq LIMIT ?)",
                (victims,),
            )
            removed, removed_undelivered = removed + r, removed_undelivered + u
    if removed_undelivered:
        conn.execute(
            "UPDATE sink_state SET pruned_undelivered = pruned_undelivered + ? WHERE id = 1",
            (removed_undelivered,),
        )
    return PruneResult(removed=removed, removed_undelivered=removed_undelivered)


def _delete_where(
    conn: sqlite3.Connection, condition: str, params: tuple[int, ...]
) -> tuple[int, int]:
    victims = f"seq IN (SELECT seq FROM measurements WHERE {condition})"
    undelivered = conn.execute(f"SELECT count(*) FROM outbox WHERE {victims}", params).fetchone()[0]
    conn.execute(f"DELETE FROM outbox WHERE {victims}", params)
    conn.execute(f"DELETE FROM delivered WHERE {victims}", params)
    conn.execute(f"DELETE FROM voids WHERE {victims}", params)
    conn.execute(f"DELETE FROM records WHERE {victims}", params)
    cur = conn.execute(f"DELETE FROM measurements WHERE {condition}", params)
    return int(cur.rowcount), int(undelivered)
