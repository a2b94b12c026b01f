"""Agent events (deferrals, skips, alerts) are kept beside the measurements, also across an
upgrade from a store written before they existed."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from probe.store import AgentEvent, MemoryStore, ResultStore, SqliteStore, schema
from tests.store.builders import make_measurement

T0 = datetime(2026, 11, 29, 1, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ResultStore]:
    made: ResultStore = (SqliteStore.open(tmp_path / "probe.db") if request.param == "sqlite"
                         else MemoryStore())
    yield made
    made.close()


def event(i: int, kind: str = "deferred") -> AgentEvent:
    return AgentEvent(at=T0 + timedelta(minutes=i), kind=kind, probe_id="probe-1",
                      subscriber_id="S1", detail={"cross_traffic_kbps": 812.5 + i,
                                                  "reason": "cross-traffic"})


def test_events_round_trip_in_order(store: ResultStore) -> None:
    for i in range(3):
        store.save_event(event(i))
    store.save_event(event(3, "alert"))
    assert store.events() == [event(0), event(1), event(2), event(3, "alert")]
    assert store.events("deferred", limit=2) == [event(1), event(2)]
    assert store.events("skipped") == []


def test_a_detail_json_cannot_hold_is_refused(store: ResultStore) -> None:
    with pytest.raises(ValueError, match="JSON"):
        store.save_event(AgentEvent(T0, "deferred", "p", {"rate": float("nan")}))


def test_version_1_store_upgrades_and_keeps_its_measurements(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in schema.MIGRATIONS[0]:
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    conn.close()
    with SqliteStore.open(path) as store:
        store.save(make_measurement(0), probe_id="p")
        store.save_event(event(0))
        assert store.events() == [event(0)]
        assert len(store.history()) == 1
        assert store.status().schema_version == schema.SCHEMA_VERSION
