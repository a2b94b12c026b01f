"""One SQLite connection as the result store uses it: opened in WAL mode with
``synchronous=FULL`` and migrated, one transaction at a time, timestamps as integer
microseconds, and sqlite3 errors as one-line ``StoreError`` messages that say what to do.

Durability: ``synchronous=FULL`` because probes lose power: under WAL, ``NORMAL`` may roll back
the last commits after a power cut (SQLite's own documentation), and FULL costs a fraction of a
millisecond per measurement here (see docs/store-and-forward.md). ``busy_timeout`` lets
``probe measure`` and a running forwarder share the file. The file is never deleted or
rewritten to "fix" it.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from probe.errors import StoreError
from probe.store import chainlog, schema
from probe.store.records import RetentionPolicy

DEFAULT_BUSY_TIMEOUT_S = 10.0

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)


def to_us(moment: datetime) -> int:
    return (moment - EPOCH) // _ONE_US


def from_us(value: int | None) -> datetime | None:
    return None if value is None else EPOCH + timedelta(microseconds=value)


def utc_now() -> datetime:
    return datetime.now(UTC)


def connect(path: str | Path, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S
            ) -> tuple[sqlite3.Connection, str]:
    """The open, migrated connection and its path as text, or StoreError."""
    where = str(path)
    if where != ":memory:":
        try:
            Path(where).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the directory of the result store {where}: "
                f"{exc.strerror or exc}"
            ) from exc
    conn: sqlite3.Connection | None = None
    with translate_errors(where, "open"):
        conn = sqlite3.connect(where, timeout=busy_timeout_s, isolation_level=None)
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal" and where != ":memory:":
                raise StoreError(f"the result store {where} cannot use WAL mode ({mode})")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            schema.migrate(conn, where)
            _link_unchained(conn)
        except BaseException:
            conn.close()
            raise
    return conn, where


class StoreConnection:
    """The connection, the clock its stamps come from, and its transactions."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        path: str,
        *,
        policy: RetentionPolicy,
        clock: Callable[[], datetime],
    ) -> None:
        self._conn = conn
        self.path = path
        self.policy = policy
        self._clock = clock
        self._saves = 0

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @contextmanager
    def _transaction(self, action: str) -> Iterator[None]:
        with translate_errors(self.path, action):
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")


def _link_unchained(conn: sqlite3.Connection) -> None:
    """Link records stored before the hash chain existed (once, after migration 4)."""
    if conn.execute("SELECT 1 FROM measurements WHERE seq NOT IN (SELECT seq FROM chain)"
                    " LIMIT 1").fetchone() is None:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        chainlog.backfill(conn)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


@contextmanager
def translate_errors(path: str, action: str) -> Iterator[None]:
    """Turn sqlite3 errors into one-line StoreErrors that say what to do."""
    try:
        yield
    except sqlite3.Error as exc:
        raise StoreError(describe(exc, path, action)) from exc


def describe(exc: sqlite3.Error, path: str, action: str) -> str:
    text = str(exc)
    low = text.lower()
    head = f"cannot {action} the result store {path}"
    hint: Any
    if "full" in low:
        hint = "the disk is full; free space (nothing already stored was lost)"
    elif "readonly" in low or "read-only" in low:
        hint = "the file or its directory is read-only; use a writable --db PATH"
    elif "not a database" in low or "malformed" in low or "corrupt" in low:
        hint = (
            "the file is damaged or not a probe store; it was left untouched: move it aside to "
            f"start a new store, or recover it with `sqlite3 {path} .recover`"
        )
    elif "locked" in low or "busy" in low:
        hint = "another process holds it locked; retry, or check for a stuck probe process"
    elif "unable to open" in low:
        folder = os.path.dirname(os.path.abspath(path))
        if os.path.isdir(folder) and not os.access(folder, os.W_OK):
            # WAL needs its -wal/-shm files beside the database, so the folder must be writable.
            hint = f"its directory {folder} is read-only; use a writable --db PATH"
        else:
            hint = "the file cannot be opened (missing directory or no permission)"
    else:
        hint = text
    return f"{head}: {hint} ({text})" if hint != text else f"{head}: {text}"
