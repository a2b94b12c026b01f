"""The data model's names work in InfluxQL: our lines written to a real influxd 1.x via /write and
read back with /query, value by value; a replay overwrites instead of duplicating.

Debian's influxd 1.6.7 has no /api/v2/write (influxdb-client needs 1.8+), so the lines go
through the v1 endpoint; they are the same bytes the forwarder sends.
"""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probe.sinks.lineprotocol import FIELDS, MEASUREMENT, LabelledRecord, encode_points
from tests.servicekit import InfluxDB1
from tests.store.builders import make_measurement

pytestmark = pytest.mark.services

DB = "probe"


@pytest.fixture(scope="module")
def db(influxdb1: InfluxDB1) -> InfluxDB1:
    influxdb1.query(f"CREATE DATABASE {DB}", method="POST")
    return influxdb1


def rows(server: InfluxDB1, q: str) -> list[dict[str, object]]:
    return server.rows(q, DB)


class TestInfluxQL:
    """Every field and tag name is queryable in InfluxQL, with the stored values."""

    def test_fields_and_tags_read_back(self, db: InfluxDB1) -> None:
        measurements = [make_measurement(i, samples=5, upload=i != 1,
                                         flags=("wifi",) if i == 2 else ()) for i in range(4)]
        records = [LabelledRecord.of(m, "probe-1", subscriber_id="sub a,b", verdict="pass")
                   for m in measurements]
        status, body = db.write(DB, encode_points(records))
        assert status == 204, body
        columns = ", ".join(f'"{f.name}"' for f in FIELDS)
        got = rows(db, f'SELECT {columns} FROM "{MEASUREMENT}" WHERE "probe_id" = \'probe-1\''
                       ' GROUP BY "subscriber_id", "verdict", "server", "backend", "flags"')
        assert len(got) == 4
        by_time = {row["time"]: row for row in got}
        for m in measurements:
            # Exact to the microsecond: the start time is the point's identity.
            row = by_time[int(m.started_at.timestamp()) * 10**9 + 123456000]
            record = m.to_json_dict()
            assert (row["subscriber_id"], row["verdict"], row["server"]) == (
                "sub a,b", "pass", m.server)
            assert row["flags"] == ",".join(m.flags)
            for spec in FIELDS:
                assert row[spec.name] == record[spec.source], spec.name

    def test_filters_and_aggregates_use_the_documented_names(self, db: InfluxDB1) -> None:
        lines = encode_points(
            LabelledRecord.of(make_measurement(i, samples=3), "probe-2",
                              verdict="shortfall" if i % 2 else "pass")
            for i in range(6)
        )
        assert db.write(DB, lines)[0] == 204
        got = rows(db, f'SELECT count("download_mbps") FROM "{MEASUREMENT}" '
                       "WHERE \"probe_id\" = 'probe-2' AND \"flags\" = '' GROUP BY \"verdict\"")
        assert {r["verdict"]: r["count"] for r in got} == {"pass": 3, "shortfall": 3}

    def test_a_replay_overwrites(self, db: InfluxDB1) -> None:
        lines = encode_points([LabelledRecord.of(make_measurement(7), "probe-3")])
        assert db.write(DB, lines)[0] == 204
        assert db.write(DB, lines)[0] == 204
        got = rows(db, f'SELECT "download_mbps" FROM "{MEASUREMENT}" '
                       "WHERE \"probe_id\" = 'probe-3'")
        assert [r["download_mbps"] for r in got] == [make_measurement(7).download_mbps]


class TestArbitraryTagText:
    """Any printable text in a tag (commas, '=', spaces, quotes, unicode) reads back unchanged."""

    @settings(max_examples=40, deadline=None)
    @given(text=st.text(st.characters(blacklist_categories=("Cc", "Cs"),
                                      blacklist_characters="\\"), min_size=1, max_size=40))
    def test_round_trip(self, db: InfluxDB1, text: str) -> None:
        probe_id = f"prop-{uuid.uuid4().hex[:12]}"
        [line] = encode_points([LabelledRecord.of(make_measurement(1, samples=2), probe_id,
                                                  subscriber_id=text)])
        status, body = db.write(DB, [line])
        assert status == 204, body
        got = rows(db, f'SELECT "download_mbps", "subscriber_id" FROM "{MEASUREMENT}" '
                       f"WHERE \"probe_id\" = '{probe_id}'")
        assert [r["subscriber_id"] for r in got] == [text]
