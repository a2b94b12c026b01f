"""The store keeps a hash chain over every saved record (schema migration 4)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from probe.evidence.chain import GENESIS, check_chain
from probe.store import SqliteStore
from tests.store.builders import make_measurement


def test_each_save_links_to_the_one_before(tmp_path: Path) -> None:
    with SqliteStore.open(tmp_path / "p.db") as store:
        for i in range(3):
            store.save(make_measurement(i), probe_id="p")
        store.save(make_measurement(1), probe_id="p")  # a duplicate adds no link
        links = store.chain_links()
    assert len(links) == 3
    assert links[0].prev_digest == GENESIS
    assert [ln.prev_digest for ln in links[1:]] == [ln.digest for ln in links[:-1]]
    assert check_chain(links, GENESIS, links[-1].digest, 3) is None


def test_records_from_before_the_chain_are_linked_on_open(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    with SqliteStore.open(db) as store:
        for i in range(3):
            store.save(make_measurement(i), probe_id="p")
        before = store.chain_links()
    conn = sqlite3.connect(db)
    conn.execute("DELETE FROM chain")  # as a store written by a probe without the chain
    conn.commit()
    conn.close()
    with SqliteStore.open(db) as store:
        assert store.chain_links() == before


def test_retention_trims_the_front_and_the_rest_still_verifies(tmp_path: Path) -> None:
    with SqliteStore.open(tmp_path / "p.db") as store:
        for i in range(4):
            store.save(make_measurement(i), probe_id="p")
        full = store.chain_links()
        store._conn.execute("DELETE FROM measurements WHERE seq = 1")
        rest = store.chain_links()
    assert rest == full[1:]
    assert check_chain(rest, rest[0].prev_digest, full[-1].digest, 3) is None
