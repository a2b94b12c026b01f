"""``probe forward --audit``: after VictoriaMetrics is killed with SIGKILL and restarted, the
audit finds what the sink lost, requeues it, and afterwards every stored measurement is in
the sink exactly once (read back, not taken from the 2xx)."""

from __future__ import annotations

import json
import urllib.parse
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from probe.simulate.fleet import FleetSpec, simulate_fleet
from probe.simulate.records import iter_records
from probe.sinks.audit import VictoriaMetricsPoints, audit
from probe.sinks.readback import VictoriaMetricsReader
from probe.store import SqliteStore
from probe.store.memory import MemoryStore
from tests.servicekit import http
from tests.support import run_cli

pytestmark = pytest.mark.services


def _store(path: Path) -> tuple[dict[str, set[int]], int]:
    """A store holding two probes' simulated measurements; (probe → start ms set, count)."""
    fleet = simulate_fleet(FleetSpec(2, 2, per_day=10, seed=4))
    expected: dict[str, set[int]] = {}
    with SqliteStore.open(path) as store:
        for rec in iter_records(fleet):
            store.save(rec.measurement, probe_id=rec.probe_id, subscriber_id=rec.subscriber_id)
            ms = int(rec.measurement.started_at.timestamp() * 1e6) // 1000
            expected.setdefault(rec.probe_id, set()).add(ms)
    return expected, sum(len(v) for v in expected.values())


def _held(vm, probe_id: str) -> Counter[int]:
    return VictoriaMetricsPoints(VictoriaMetricsReader(vm.url)).copies(
        probe_id, datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))


def _forward(db: Path, vm, *extra: str) -> dict:
    # A long HTTP timeout: on a loaded CI machine a just-restarted VictoriaMetrics can take
    # more than the default 10 s to answer its first export.
    result = run_cli(["forward", "--once", "--json", "--url", vm.url, "--kind",
                      "victoriametrics", "--db", str(db), "--timeout", "60", *extra])
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_sigkill_restart_audit_every_point_once(tmp_path: Path, victoria_metrics_factory) -> None:
    db = tmp_path / "probe.db"
    expected, total = _store(db)
    vm = victoria_metrics_factory()
    vm.start()
    assert _forward(db, vm)["delivered"] == total  # every write acknowledged (204)
    vm.proc.kill()  # SIGKILL right after the acknowledgements: no flush, no shutdown
    vm.proc.wait()
    vm.start()  # same data directory, same port
    survived = {p: set(_held(vm, p)) for p in expected}
    # Whatever SIGKILL spared, also lose one probe's series for certain, as a disk fault would.
    lost_probe = sorted(expected)[0]
    query = urllib.parse.urlencode({"match[]": f'{{probe_id="{lost_probe}"}}'})
    status, _ = http("GET", f"{vm.url}/api/v1/admin/tsdb/delete_series?{query}")
    assert status == 204
    survived[lost_probe] = set()
    vm.force_flush()
    still_there = sum(len(survived[p] & expected[p]) for p in expected)

    result = _forward(db, vm, "--audit", "--since", "3650d")
    report = result["audit"]
    assert report["checked"] == total
    assert report["present"] == still_there
    assert report["missing"] == total - still_there >= len(expected[lost_probe])
    assert report["requeued"] == report["missing"]
    assert result["delivered"] == report["missing"]  # sent again in the same run

    vm.force_flush()
    for probe_id, starts in expected.items():
        held = _held(vm, probe_id)
        assert set(held) == starts, probe_id  # every stored point is there ...
        assert set(held.values()) == {1}, probe_id  # ... exactly once
    again = _forward(db, vm, "--audit", "--since", "3650d")["audit"]
    assert (again["present"], again["missing"], again["duplicated"]) == (total, 0, 0)


def test_audit_finds_duplicates_and_requeues_in_the_fake_store() -> None:
    """The audit's bookkeeping against the in-memory store and a scripted sink."""
    fleet = simulate_fleet(FleetSpec(1, 3, per_day=4, seed=9))  # gaps are drawn: 3 days for >= 6
    store = MemoryStore()
    records = list(iter_records(fleet))
    assert len(records) >= 6
    for rec in records:
        store.save(rec.measurement, probe_id=rec.probe_id)
    store.mark_delivered([e.outbox_id for e in store.pending(100)])
    starts = [int(r.measurement.started_at.timestamp() * 1e6) // 1000 for r in records]

    class Sink:
        precision_us = 1000

        def describe(self) -> str:
            return "scripted sink"

        def copies(self, probe_id: str, start: datetime, end: datetime) -> Counter[int]:
            return Counter({starts[0]: 1, starts[1]: 2})  # one fine, one twice, rest lost

    now = datetime(2027, 1, 1, tzinfo=UTC)
    report = audit(store, Sink(), since=now - timedelta(days=3650), until=now)
    assert (report.checked, report.present, report.duplicated) == (len(records), 1, 1)
    assert report.missing == report.requeued == len(records) - 2
    assert [e.figures["id"] for e in store.pending(100)] == [
        r.measurement.id for r in records[2:]]
    assert store.status().backlog == len(records) - 2


def test_audit_reads_back_from_influxdb1(tmp_path: Path, influxdb1) -> None:
    """The InfluxQL side of the audit against real influxd 1.x: the points are written with
    the probe's own encoder through v1 /write (1.6.7 has no /api/v2/write), two are deleted,
    and the audit finds exactly those two missing and requeues them."""
    from probe.sinks.audit import InfluxPoints
    from probe.sinks.lineprotocol import LabelledRecord, encode_point
    from probe.sinks.readback import InfluxQLReader

    influxdb1.query("CREATE DATABASE audit", method="POST")
    fleet = simulate_fleet(FleetSpec(2, 2, per_day=6, seed=4))
    store = MemoryStore()
    lines = []
    records = list(iter_records(fleet))
    assert len(records) >= 6
    for rec in records:
        store.save(rec.measurement, probe_id=rec.probe_id)
        lines.append(encode_point(LabelledRecord.of(rec.measurement, rec.probe_id)))
    status, body = influxdb1.write("audit", lines)
    assert status == 204, body
    store.mark_delivered([e.outbox_id for e in store.pending(100)])
    gone = [int(line.rsplit(" ", 1)[1]) for line in lines[1:3]]
    for ns in gone:
        influxdb1.query(f"DELETE FROM broadband WHERE time = {ns}", db="audit", method="POST")
    now = datetime(2027, 1, 1, tzinfo=UTC)
    report = audit(store, InfluxPoints(InfluxQLReader(influxdb1.url, "audit")),
                   since=now - timedelta(days=3650), until=now)
    assert (report.checked, report.present, report.missing) == (len(lines), len(lines) - 2, 2)
    assert report.requeued == 2
    assert [e.figures["id"] for e in store.pending(10)] == [r.measurement.id
                                                            for r in records[1:3]]
