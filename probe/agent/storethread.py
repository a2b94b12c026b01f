"""The agent's store thread: one worker thread owns the SQLite store (and runs the forwarder).

A save never blocks the event loop on fsync, and sqlite3 objects never cross threads: every
call on the store, from opening it to closing it, runs in the ``probe-store`` thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from probe.sinks.forwarder import Forwarder
    from probe.store import SqliteStore

T = TypeVar("T")


class StoreThread:
    """The store and the one thread allowed to touch it."""

    def __init__(self) -> None:
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="probe-store")
        self._store: SqliteStore | None = None

    @property
    def opened(self) -> bool:
        return self._store is not None

    async def open(self, open_store: Callable[[], SqliteStore]) -> None:
        self._store = await self.call(open_store)

    def db(self) -> SqliteStore:
        """The store; only for functions run through :meth:`call`."""
        assert self._store is not None
        return self._store

    async def call(self, fn: Callable[[], T]) -> T:
        """``fn()`` in the store thread."""
        return await asyncio.get_running_loop().run_in_executor(self._io, fn)

    async def put_state(self, key: str, value: dict[str, object]) -> None:
        await self.call(lambda: self.db().put_state(key, value))

    async def close(self, forwarder: Forwarder | None) -> None:
        """Close the forwarder's writer and the store (in the thread), then end the thread."""
        store = self._store
        if store is not None:
            await self.call(lambda: _close_all(store, forwarder))
        self._io.shutdown(wait=True)


def _close_all(store: SqliteStore, forwarder: Forwarder | None) -> None:
    if forwarder is not None:
        close = getattr(forwarder.writer, "close", None)
        if close is not None:
            close()
    store.close()
