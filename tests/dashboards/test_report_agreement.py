"""The dashboards agree with `probe report` on a fleet from `probe simulate`.

`probe simulate` writes the fleet's points through the data model's encoder; they are loaded
into a real influxd 1.x and VictoriaMetrics. `probe report` reads the measurements back from
that influxd (InfluxQL), judges every subscriber with evaluate_fleet and writes the window
verdicts back (--write-back, relayed to both servers: Debian's influxd 1.6.7 lacks the
/api/v2/write the sink client uses). Every "compliant subscribers" panel, in both flavours,
must then show exactly the report's 达标率 of subscribers, overall and per plan, region and
technology, and per period (peak / off-peak) as ``probe report --by period`` gives it.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.dashboards.queries import (
    ALL,
    PanelQuery,
    grafana_influxql,
    grafana_metricsql,
    panel_queries,
)
from tests.servicekit import InfluxDB1, InfluxStub, StubRequest, VictoriaMetrics, http
from tests.support import run_cli, run_clis

pytestmark = [pytest.mark.services, pytest.mark.slow]

DB = "simulated"
GROUPS = ("plan", "region", "technology")
REPORTS = (*GROUPS, "period")
PANELS = {"Compliant subscribers": "", **{f"Compliant subscribers by {g}": g for g in GROUPS},
          "Compliant subscribers, peak vs off-peak": "period"}
Shares = dict[str, float]


@pytest.fixture(scope="module")
def fleet_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fleet")
    done = run_cli(["simulate", "--subscribers", "50", "--days", "10", "--seed", "11",
                    "--format", "lineprotocol", "--out", str(out)], timeout_s=300)
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def loaded(
    fleet_dir: Path, influxdb1: InfluxDB1, victoria_metrics: VictoriaMetrics,
) -> tuple[InfluxDB1, VictoriaMetrics, dict[str, Any], tuple[int, int]]:
    influxdb1.query(f"CREATE DATABASE {DB}", method="POST")
    lines = (fleet_dir / "points.lp").read_text(encoding="utf-8").splitlines()
    for lo in range(0, len(lines), 5000):
        assert influxdb1.write(DB, lines[lo:lo + 5000])[0] == 204
    assert victoria_metrics.write_lines(lines) == 204

    def relay(req: StubRequest) -> tuple[int, str]:
        # The report's write-back, delivered to both servers by their own write endpoints.
        precision = req.query.get("precision", "ns")
        status, body = http("POST", f"{influxdb1.url}/write?db={DB}&precision={precision}",
                            req.body.encode())
        assert status == 204, body
        vm_status, _ = http("POST", f"{victoria_metrics.url}/write?precision={precision}",
                            req.body.encode())
        assert vm_status == 204
        return 204, ""

    stub = InfluxStub(relay)
    stub.start()
    def args(by: str, *extra: str) -> list[str]:
        return ["report", "--source", f"influx:{influxdb1.url}?db={DB}",
                "--contracts", str(fleet_dir / "contracts"), "--by", by, "--json", *extra]

    try:
        # The write-back first; the other groupings then read the same database side by side.
        runs = [run_cli(args("plan", "--write-back", "--url", stub.url, "--kind", "influxdb1",
                             "--bucket", DB), timeout_s=300)]
        runs += run_clis([args(by) for by in REPORTS[1:]], timeout_s=300)
    finally:
        stub.stop()
    for done in runs:
        assert done.returncode == 0, done.stderr
    reports = {by: json.loads(done.stdout) for by, done in zip(REPORTS, runs, strict=True)}
    summary = json.loads((fleet_dir / "fleet.json").read_text(encoding="utf-8"))
    first, last = (int(datetime.fromisoformat(summary[k]).timestamp() * 1000)
                   for k in ("first", "last"))
    return influxdb1, victoria_metrics, reports, (first - 3_600_000, last + 1000)


def report_shares(reports: dict[str, Any], group: str) -> Shares:
    """The report's compliant-subscriber share (%) per group value ("" = the whole fleet),
    leaving out groups with no decided subscriber (the panels have no value for them)."""
    def share(item: dict[str, Any]) -> float | None:
        value = item["compliant_subscribers"]["share"]
        return None if value is None else 100 * value

    if not group:
        items = [("", share(reports["plan"]["overall"]))]
    else:
        items = [(g[group], share(g)) for g in reports[group]["groups"]]
    return {k: v for k, v in items if v is not None}


def panel(title: str, flavour: str) -> PanelQuery:
    [q] = [q for q in panel_queries() if q.flavour == flavour and q.panel["title"] == title]
    return q


def influx_shares(server: InfluxDB1, title: str, group: str, span: tuple[int, int]) -> Shares:
    text = grafana_influxql(panel(title, "influxql").text, *span, **ALL)
    return {s.get("tags", {}).get(group, ""): s["values"][-1][1]
            for s in server.series(text, DB)}


def metricsql_shares(vm: VictoriaMetrics, title: str, group: str, span: tuple[int, int]
                     ) -> Shares:
    text = grafana_metricsql(panel(title, "metricsql").text, (span[1] - span[0]) // 1000, **ALL)
    return {r["metric"].get(group, ""): float(r["value"][1])
            for r in vm.query(text, span[1] / 1000)}


def test_every_fleet_panel_has_data_from_the_simulator(
    loaded: tuple[InfluxDB1, VictoriaMetrics, dict[str, Any], tuple[int, int]],
) -> None:
    influx, vm, _reports, span = loaded
    for q in panel_queries():
        if q.file != "fleet-compliance":
            continue
        if q.flavour == "influxql":
            got = influx.series(grafana_influxql(q.text, *span, **ALL), DB)
        elif q.target["instant"]:
            got = vm.query(grafana_metricsql(q.text, (span[1] - span[0]) // 1000, **ALL),
                           span[1] / 1000)
        else:
            got = vm.query_range(grafana_metricsql(q.text, (span[1] - span[0]) // 1000, **ALL),
                                 span[0] / 1000, span[1] / 1000, 86400)
        assert got, q.label


@pytest.mark.parametrize("title", sorted(PANELS))
def test_subscriber_panels_equal_the_report(
    loaded: tuple[InfluxDB1, VictoriaMetrics, dict[str, Any], tuple[int, int]], title: str
) -> None:
    influx, vm, reports, span = loaded
    group = PANELS[title]
    want = report_shares(reports, group)
    assert want, reports[group or "plan"]
    if group == "period":  # the simulator's evening dips: both periods decided, and differing
        assert set(want) == {"peak", "off_peak"}
        assert want["peak"] < want["off_peak"]
    assert influx_shares(influx, title, group, span) == pytest.approx(want, rel=1e-12)
    assert metricsql_shares(vm, title, group, span) == pytest.approx(want, rel=1e-12)
