"""The fleet data model on real servers: 达标率 and measured/contracted are computable in InfluxQL
(influxd 1.x) and MetricsQL (VictoriaMetrics) from the points the encoders write, beside points
written before the fleet labels existed, which stay readable."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta

import pytest

from probe.compliance.labels import fleet_labels
from probe.sinks.fleetpoints import encode_window_verdict
from probe.sinks.lineprotocol import LabelledRecord, encode_points
from tests.compliance.builders import DE_DOWN, DE_UP, at, contract
from tests.servicekit import InfluxDB1, VictoriaMetrics
from tests.sinks.test_fleet_points import WINDOW_END, evaluation
from tests.store.builders import make_measurement

pytestmark = pytest.mark.services

DB = "fleet"
DE = contract("de-bnetza", DE_DOWN, DE_UP, subscriber="DE-1")
# 8 tests for DE-1: evening ones (peak) at 900 Mbit/s pass, morning ones at 700 miss 850.
STARTS = [at(f"2026-03-0{2 + i // 2} {'20' if i % 2 else '08'}:00") for i in range(8)]


def points(probe_id: str) -> list[str]:
    new = []
    for i, start in enumerate(STARTS):
        record = LabelledRecord.of(
            make_measurement(i, started_at=start), probe_id, subscriber_id="DE-1",
            contract_ref="p", verdict="pass" if i % 2 else "shortfall",
            fleet=fleet_labels(DE, start).to_json_dict())
        figures = {**record.figures, "download_mbps": 900.0 if i % 2 else 700.0}
        new.append(dataclasses.replace(record, figures=figures))
    # Two points from before the fleet labels: a verdict tag only, no plan/region/contract.
    old = [LabelledRecord.of(make_measurement(20 + i, started_at=STARTS[0] - timedelta(days=1,
                             minutes=i)), probe_id, subscriber_id="DE-1", verdict="pass")
           for i in range(2)]
    return encode_points(new + old)


@pytest.fixture(scope="module")
def influx(influxdb1: InfluxDB1) -> InfluxDB1:
    influxdb1.query(f"CREATE DATABASE {DB}", method="POST")
    return influxdb1


def influx_rows(server: InfluxDB1, q: str) -> list[dict[str, object]]:
    return server.rows(q, DB)


def test_influxql_computes_share_and_ratio(influx: InfluxDB1) -> None:
    probe_id = f"p-{uuid.uuid4().hex[:6]}"
    window = encode_window_verdict(evaluation(), DE, WINDOW_END)
    assert influx.write(DB, [*points(probe_id), window])[0] == 204
    where = f"\"probe_id\" = '{probe_id}' AND time > 0"
    share = influx_rows(influx, f'SELECT mean("compliant") FROM "broadband" WHERE {where} '
                                'GROUP BY "period", "plan"')
    # Old points (plan "") count by their verdict; the new ones split by period.
    assert {(r["plan"], r["period"]): r["mean"] for r in share} == {
        ("p", "peak"): 1.0, ("p", "off_peak"): 0.0, ("", ""): 1.0}
    ratio = influx_rows(influx, 'SELECT "download_mbps" / "contract_download_mbps" AS r '
                                f'FROM "broadband" WHERE {where} GROUP BY "period"')
    values = [r["r"] for r in ratio]
    assert sorted(v for v in values if v is not None) == [0.7] * 4 + [0.9] * 4
    assert values.count(None) in (0, 2)  # old points have no contracted rate: no ratio
    everything = influx_rows(influx, f'SELECT count("download_mbps") FROM "broadband" '
                                     f'WHERE {where}')
    assert everything[0]["count"] == 10  # old points still read
    windows = influx_rows(influx, 'SELECT last("compliant"), last("campaign_days_complete") '
                                  'FROM "broadband_window" WHERE time > 0 GROUP BY "region"')
    assert [(r["last"], r["last_1"]) for r in windows] == [(0.0, 3.0)]


def test_metricsql_computes_share_and_ratio(victoria_metrics: VictoriaMetrics) -> None:
    probe_id = f"p-{uuid.uuid4().hex[:6]}"
    assert victoria_metrics.write_lines(points(probe_id)) == 204
    at_s = STARTS[-1].timestamp() + 60
    sel = f'probe_id="{probe_id}"'
    share = victoria_metrics.query(
        f"sum by (period, plan) (sum_over_time(broadband_compliant{{{sel}}}[10d])) / "
        f"sum by (period, plan) (count_over_time(broadband_compliant{{{sel}}}[10d]))", at_s)
    assert {(r["metric"].get("plan", ""), r["metric"].get("period", "")): float(r["value"][1])
            for r in share} == {("p", "peak"): 1.0, ("p", "off_peak"): 0.0, ("", ""): 1.0}
    ratio = victoria_metrics.query(
        f"max_over_time((broadband_download_mbps{{{sel}}} / "
        f"broadband_contract_download_mbps{{{sel}}})[10d:1h])", at_s)
    assert {r["metric"]["period"]: float(r["value"][1]) for r in ratio} == {
        "peak": 0.9, "off_peak": 0.7}
