"""The result store's contract, held by the SQLite store and by its in-memory fake alike."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from probe.measurement import Measurement
from probe.store import MemoryStore, ResultStore, RetentionPolicy, SqliteStore
from probe.store.schema import MIGRATIONS, SCHEMA_VERSION
from tests.store.builders import BASE_TIME, make_measurement


class Clock:
    """A settable clock, so retention and timestamps are testable."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


StoreFactory = Callable[..., ResultStore]


def save_many(store: ResultStore, indices: range) -> None:
    for i in indices:
        store.save(make_measurement(i), probe_id="p")


@pytest.fixture(params=["sqlite", "memory"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    opened: list[ResultStore] = []

    def make(policy: RetentionPolicy | None = None, clock: Clock | None = None) -> ResultStore:
        clock = clock or Clock(BASE_TIME + timedelta(days=1))
        store: ResultStore
        if request.param == "sqlite":
            store = SqliteStore.open(tmp_path / "probe.db", policy=policy, clock=clock)
        else:
            store = MemoryStore(policy=policy, clock=clock)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


class TestSaveAndHistory:
    """What is saved comes back whole: the full record with samples and its labels."""

    def test_round_trip_keeps_the_full_record(self, make_store: StoreFactory) -> None:
        store = make_store()
        m = make_measurement(3)
        store.save(m, probe_id="probe-a", subscriber_id="sub-1", contract_ref="plan-100",
                   verdict="pass")
        [row] = store.history()
        assert row.record == m.to_json_dict()
        assert row.measurement == m
        assert (row.probe_id, row.subscriber_id, row.contract_ref, row.verdict) == (
            "probe-a", "sub-1", "plan-100", "pass")
        assert len(row.record["samples"]["download"]) == 100
        assert row.delivered_at is None

    def test_saving_the_same_measurement_twice_keeps_one(self, make_store: StoreFactory) -> None:
        store = make_store()
        m = make_measurement(1)
        store.save(m, probe_id="p")
        store.save(m, probe_id="p", verdict="shortfall")
        assert len(store.history()) == 1
        assert store.status().backlog == 1

    def test_history_is_ordered_by_start_and_filtered_by_since(
        self, make_store: StoreFactory
    ) -> None:
        store = make_store()
        for i in (5, 1, 3, 2, 4):
            store.save(make_measurement(i), probe_id="p")
        ids = [r.measurement_id for r in store.history()]
        assert ids == [make_measurement(i).id for i in (1, 2, 3, 4, 5)]
        since = make_measurement(3).started_at
        assert [r.measurement_id for r in store.history(since)] == ids[2:]
        assert [r.measurement_id for r in store.history(since, limit=1)] == ids[2:3]

    def test_unmeasured_directions_stay_null(self, make_store: StoreFactory) -> None:
        store = make_store()
        store.save(make_measurement(0, upload=False), probe_id="p")
        [row] = store.history()
        assert row.record["upload_mbps"] is None
        assert row.measurement.upload is None


class TestOutbox:
    """Queued entries come out in order and leave only when marked delivered."""

    def test_pending_in_order_with_cursor(self, make_store: StoreFactory) -> None:
        store = make_store()
        for i in range(5):
            store.save(make_measurement(i), probe_id="p", subscriber_id="s")
        first = store.pending(2)
        assert [e.figures["id"] for e in first] == [make_measurement(i).id for i in (0, 1)]
        rest = store.pending(10, after=first[-1].outbox_id)
        assert [e.figures["id"] for e in rest] == [make_measurement(i).id for i in (2, 3, 4)]
        assert "samples" not in first[0].figures
        assert first[0].subscriber_id == "s"

    def test_mark_delivered_removes_and_stamps(self, make_store: StoreFactory) -> None:
        clock = Clock(BASE_TIME + timedelta(days=2))
        store = make_store(clock=clock)
        for i in range(3):
            store.save(make_measurement(i), probe_id="p")
        ids = [e.outbox_id for e in store.pending(10)]
        store.mark_delivered(ids[:2])
        assert [e.outbox_id for e in store.pending(10)] == ids[2:]
        status = store.status()
        assert (status.backlog, status.last_delivery_at) == (1, clock.now)
        delivered = [r.delivered_at for r in store.history()]
        assert delivered == [clock.now, clock.now, None]

    def test_rejections_count_and_quarantine_sets_aside(self, make_store: StoreFactory) -> None:
        store = make_store()
        for i in range(3):
            store.save(make_measurement(i), probe_id="p")
        a, b, _ = (e.outbox_id for e in store.pending(10))
        store.record_error("HTTP 400: bad line", rejected_ids=[a])
        store.record_error("HTTP 400: bad line", quarantine_ids=[b])
        pending = store.pending(10)
        assert [e.outbox_id for e in pending][:1] == [a]
        assert pending[0].rejections == 1
        assert b not in [e.outbox_id for e in pending]
        status = store.status()
        assert (status.backlog, status.quarantined, status.last_error) == (
            2, 1, "HTTP 400: bad line")
        assert store.requeue_quarantined() == 1
        assert len(store.pending(10)) == 3


class TestVoidAndDemo:
    """A void is an appended fact beside the untouched record; demo records are never queued."""

    def test_void_keeps_the_record_and_takes_it_out_of_the_outbox(
        self, make_store: StoreFactory
    ) -> None:
        clock = Clock(BASE_TIME + timedelta(days=3))
        store = make_store(clock=clock)
        for i in range(3):
            store.save(make_measurement(i), probe_id="p", subscriber_id="s")
        row = store.void(make_measurement(1).id, by="alice@host", reason="wrong line")
        assert row.voided is not None
        assert (row.voided.voided_by, row.voided.reason, row.voided.voided_at) == (
            "alice@host", "wrong line", clock.now)
        assert row.record == make_measurement(1).to_json_dict()  # the record is untouched
        assert [e.figures["id"] for e in store.pending(10)] == [
            make_measurement(i).id for i in (0, 2)]
        history = store.history()
        assert [r.voided is not None for r in history] == [False, True, False]
        assert not history[1].is_evidence
        assert history[1].to_export_dict()["voided"]["reason"] == "wrong line"
        status = store.status()
        assert (status.measurements, status.backlog, status.voided) == (3, 2, 1)
        from probe.errors import StoreError

        with pytest.raises(StoreError, match="already voided"):
            store.void(make_measurement(1).id, by="bob", reason="again")
        with pytest.raises(StoreError, match="needs a reason"):
            store.void(make_measurement(2).id, by="bob", reason="  ")

    def test_a_unique_prefix_of_eight_finds_the_record(self, make_store: StoreFactory) -> None:
        import dataclasses

        store = make_store()
        store.save(dataclasses.replace(make_measurement(0), id="abcdef12-0000"), probe_id="p")
        store.save(make_measurement(1), probe_id="p")
        assert store.void("abcdef12", by="b", reason="r").measurement_id == "abcdef12-0000"

    def test_demo_records_are_kept_but_never_queued(self, make_store: StoreFactory) -> None:
        store = make_store()
        store.save(make_measurement(0, flags=("demo",)), probe_id="p")
        store.save(make_measurement(1), probe_id="p")
        assert [e.figures["id"] for e in store.pending(10)] == [make_measurement(1).id]
        assert [r.is_demo for r in store.history()] == [True, False]
        assert store.status().backlog == 1


class TestRetention:
    """Old measurements go first; losing undelivered ones is counted, never silent."""

    def test_age_limit_drops_only_older_rows(self, make_store: StoreFactory) -> None:
        clock = Clock(BASE_TIME + timedelta(days=10))
        store = make_store(policy=RetentionPolicy(max_age_days=9.5, max_bytes=None), clock=clock)
        for i in range(4):  # 15 min apart, starting BASE_TIME
            store.save(make_measurement(i), probe_id="p")
        store.mark_delivered([store.pending(1)[0].outbox_id])
        clock.now = BASE_TIME + timedelta(days=9.5, minutes=20)
        result = store.prune()
        assert (result.removed, result.removed_undelivered) == (2, 1)
        assert [r.measurement_id for r in store.history()] == [
            make_measurement(i).id for i in (2, 3)]
        assert store.status().pruned_undelivered == 1


class TestSqliteSpecifics:
    """WAL, FULL sync, versioned schema, size cap, clear errors for damaged files."""

    def test_wal_full_sync_and_schema_version(self, tmp_path: Path) -> None:
        path = tmp_path / "probe.db"
        with SqliteStore.open(path) as store:
            conn = store._conn
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
            assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
            assert store.integrity_check() == ["ok"]

    def test_reopening_keeps_data_and_does_not_migrate_again(self, tmp_path: Path) -> None:
        path = tmp_path / "probe.db"
        with SqliteStore.open(path) as store:
            store.save(make_measurement(0), probe_id="p")
        with SqliteStore.open(path) as store:
            assert len(store.history()) == 1

    def test_migration_takes_old_demo_records_out_of_the_outbox(self, tmp_path: Path) -> None:
        """A store written before demo records were kept apart: its queued demo rows go."""
        path = tmp_path / "probe.db"
        conn = sqlite3.connect(path, isolation_level=None)
        for statement in MIGRATIONS[0]:
            conn.execute(statement)
        conn.execute("PRAGMA user_version = 1")
        for i, flags in enumerate(('["loopback_demo"]', "[]")):
            conn.execute("INSERT INTO measurements (id, probe_id, started_at_us, stored_at_us,"
                         f" figures_json) VALUES ('m{i}', 'p', {i}, 0, '{{\"id\":\"m{i}\","
                         f"\"flags\":{flags}}}')")
            conn.execute(f"INSERT INTO outbox (seq) VALUES ({i + 1})")
        conn.close()
        with SqliteStore.open(path) as store:
            assert [e.figures["id"] for e in store.pending(10)] == ["m1"]

    def test_a_newer_schema_is_refused(self, tmp_path: Path) -> None:
        path = tmp_path / "probe.db"
        SqliteStore.open(path).close()
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA user_version = 99")
        conn.close()
        from probe.errors import StoreError

        with pytest.raises(StoreError, match="schema version 99, newer"):
            SqliteStore.open(path)

    def test_size_cap_keeps_the_newest(self, tmp_path: Path) -> None:
        cap = 400_000
        policy = RetentionPolicy(max_age_days=None, max_bytes=cap)
        with SqliteStore.open(tmp_path / "probe.db", policy=policy) as store:
            for i in range(120):  # ~8 kB each with 100 samples per direction
                store.save(make_measurement(i), probe_id="p")
            result = store.prune()
            status = store.status()
            kept = [r.measurement_id for r in store.history()]
        assert status.size_bytes <= cap
        assert result.removed > 0
        assert kept == [make_measurement(i).id for i in range(120 - len(kept), 120)]
        assert status.pruned_undelivered >= result.removed_undelivered > 0

    def test_a_file_that_is_not_a_database_is_left_untouched(self, tmp_path: Path) -> None:
        from probe.errors import StoreError

        path = tmp_path / "probe.db"
        junk = b"this is not sqlite " * 300
        path.write_bytes(junk)
        with pytest.raises(StoreError, match=r"damaged or not a probe store.*left untouched"):
            SqliteStore.open(path)
        assert path.read_bytes() == junk

    def test_non_finite_figures_are_refused_clearly(self, tmp_path: Path) -> None:
        from probe.errors import StoreError

        bad = Measurement(id="nan", started_at=BASE_TIME, server="s", streams=1,
                          duration_s=float("nan"))
        with SqliteStore.open(tmp_path / "probe.db") as store:
            with pytest.raises(StoreError, match="cannot be stored"):
                store.save(bad, probe_id="p")
            assert store.history() == []

    def test_disk_full_keeps_what_was_stored(self, tmp_path: Path) -> None:
        from probe.errors import StoreError

        with SqliteStore.open(tmp_path / "probe.db") as store:
            store.save(make_measurement(0), probe_id="p")
            pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
            # SQLite's own cap: further growth fails exactly as a full disk does (SQLITE_FULL).
            store._conn.execute(f"PRAGMA max_page_count = {pages}")
            with pytest.raises(StoreError, match="disk is full"):
                save_many(store, range(1, 50))
            assert store.integrity_check() == ["ok"]
            saved = store.history()
            assert saved[0].measurement_id == make_measurement(0).id
            assert all(r.record["samples"]["download"] for r in saved)


class TestDefaultPath:
    """The store lives in $PROBE_STATE_DIR, else the root or user state directory."""

    def test_state_dir_wins(self, tmp_path: Path) -> None:
        from probe.store import default_db_path

        assert default_db_path({"PROBE_STATE_DIR": str(tmp_path)}) == tmp_path / "probe.db"

    def test_root_uses_var_lib(self) -> None:
        import os

        from probe.store import default_db_path

        expected = "/var/lib/probe/probe.db" if os.geteuid() == 0 else "probe/probe.db"
        assert str(default_db_path({})).endswith(expected)


class TestCommittedMeansKept:
    """A save that returned survives kill -9 of the process the very next moment."""

    def test_kill_right_after_saves(self, tmp_path: Path) -> None:
        import signal
        import subprocess
        import sys

        from tests.store.clirunner import ROOT

        db = tmp_path / "probe.db"
        script = (
            "import sys\n"
            "from probe.store import SqliteStore\n"
            "from tests.store.builders import make_measurement\n"
            f"store = SqliteStore.open({str(db)!r})\n"
            "for i in range(10_000):\n"
            "    m = make_measurement(i, samples=50)\n"
            "    store.save(m, probe_id='p')\n"
            "    sys.stdout.write(m.id + '\\n'); sys.stdout.flush()\n"
        )
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                                text=True, cwd=ROOT, env={"PYTHONPATH": ROOT})
        assert proc.stdout is not None
        acknowledged = [proc.stdout.readline().strip() for _ in range(40)]
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
        with SqliteStore.open(db) as store:
            assert store.integrity_check() == ["ok"]
            stored = {r.measurement_id for r in store.history()}
            assert set(acknowledged) <= stored
            assert store.status().backlog == len(stored)
