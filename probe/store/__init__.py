"""The embedded result store (SQLite, WAL): every measurement, its labels, and the outbox.

``SqliteStore`` is the real store, ``MemoryStore`` its fake; both satisfy ``ResultStore``.
See docs/store-and-forward.md for the API the CLI calls after a measurement.
"""

from probe.store.memory import MemoryStore
from probe.store.records import (
    AgentEvent,
    HistoryQuery,
    OutboxEntry,
    PruneResult,
    ResultStore,
    RetentionPolicy,
    StoredRecord,
    StoreStatus,
    VoidMark,
    default_db_path,
)
from probe.store.sqlite import SqliteStore

__all__ = [
    "AgentEvent",
    "HistoryQuery",
    "MemoryStore",
    "OutboxEntry",
    "PruneResult",
    "ResultStore",
    "RetentionPolicy",
    "SqliteStore",
    "StoreStatus",
    "StoredRecord",
    "VoidMark",
    "default_db_path",
]
