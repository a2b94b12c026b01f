"""Every panel query of every dashboard, run against real servers loaded with a simulated fleet.

InfluxQL panels run on influxd 1.x, MetricsQL panels on VictoriaMetrics, with the template
variables substituted as Grafana would (All = ``.*``, ``$timeFilter``, ``$__range``). Each
result must be non-empty and equal what the rule functions (``check_measurement``,
``evaluate_fleet``, see tests/dashboards/fleet.py) give for the same data.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from statistics import mean
from typing import Any

import pytest

from tests.dashboards.conftest import DB, FLEET
from tests.dashboards.fleet import SimTest
from tests.dashboards.queries import (
    ALL,
    PanelQuery,
    grafana_influxql,
    grafana_metricsql,
    panel_queries,
)
from tests.servicekit import InfluxDB1, VictoriaMetrics

pytestmark = pytest.mark.services

DAY_MS = 86_400_000
# The drill-down's $subscriber: an eu-berec line (its plan states every rate) with a decided
# window verdict after an inconclusive one; for the campaign panel
# a de-bnetza line (only campaigns carry progress; this one's campaign is still running).
SUBSCRIBER = "AT-W--2"
CAMPAIGN_SUBSCRIBER = "DE-BE-0"
QUERIES = list(panel_queries())
Key = frozenset[tuple[str, str]]
Result = dict[Any, Any]


# -- running a panel query as Grafana would ---------------------------------------------------

def start_ms() -> int:
    return int(FLEET.start.timestamp() * 1000)


def end_ms() -> int:
    return int(FLEET.end.timestamp() * 1000)


def subscriber(q: PanelQuery) -> str:
    return CAMPAIGN_SUBSCRIBER if q.panel["title"] == "Campaign progress" else SUBSCRIBER


def influx_text(q: PanelQuery) -> str:
    return grafana_influxql(q.text, start_ms(), end_ms(), subscriber=subscriber(q), **ALL)


def run_influx(server: InfluxDB1, q: PanelQuery) -> list[dict[str, Any]]:
    return server.series(influx_text(q), DB)


def metricsql_text(q: PanelQuery) -> str:
    return grafana_metricsql(q.text, (end_ms() - start_ms()) // 1000, subscriber=subscriber(q),
                             **ALL)


def run_metricsql(vm: VictoriaMetrics, q: PanelQuery) -> list[dict[str, Any]]:
    if q.target["instant"]:
        return vm.query(metricsql_text(q), end_ms() / 1000)
    step = q.panel.get("interval", "60s")
    step_s = 86400 if step == "1d" else 60
    # A per-day panel is asked at UTC midnights, as Grafana does with a 1d interval.
    first = math.ceil(start_ms() / DAY_MS) * DAY_MS if step_s == 86400 else start_ms()
    last = math.ceil(end_ms() / DAY_MS) * DAY_MS if step_s == 86400 else end_ms()
    return vm.query_range(metricsql_text(q), first / 1000, last / 1000, step_s)


# -- normalising results: {labels: value}, {labels: {values}}, {(labels, t): value} -------------

def key(labels: dict[str, str]) -> Key:
    return frozenset((k, v) for k, v in labels.items() if k not in {"__name__", "le"})


def influx_values(series: list[dict[str, Any]]) -> Result:
    """{tags: [values of the single data column]}; the time column is dropped."""
    out: Result = defaultdict(list)
    for s in series:
        for row in s["values"]:
            out[key(s.get("tags", {}))].append(row[1])
    return dict(out)


def prom_values(result: list[dict[str, Any]]) -> Result:
    out: Result = defaultdict(list)
    for r in result:
        points = r["values"] if "values" in r else [r["value"]]
        out[key(r["metric"])].extend(float(v) for _, v in points)
    return dict(out)


# -- what the rule functions say about the fleet ---------------------------------------------

def group(tests: Iterable[SimTest], by: str | None) -> dict[Key, list[SimTest]]:
    out: dict[Key, list[SimTest]] = defaultdict(list)
    for t in tests:
        out[frozenset({(by, str(t.labels[by]))}) if by else frozenset()].append(t)
    return out


def share(tests: Iterable[SimTest], by: str | None = None) -> dict[Key, float]:
    decided = [t for t in tests if t.compliant is not None]
    return {k: 100 * mean(t.compliant or 0.0 for t in ts) for k, ts in group(decided, by).items()}


def latest_decided() -> dict[str, tuple[float, Any]]:
    """Per subscriber: its latest decided window verdict (1/0) and its contract."""
    out: dict[str, tuple[float, Any]] = {}
    for _at, e in sorted(FLEET.windows, key=lambda w: w[0]):
        if e.verdict != "inconclusive":
            out[e.subscriber_id] = (1.0 if e.verdict == "pass" else 0.0,
                                    FLEET.contracts[e.subscriber_id])
    return out


def subscriber_share(by: str | None = None) -> dict[Key, float]:
    buckets: dict[Key, list[float]] = defaultdict(list)
    for c, con in latest_decided().values():
        value = {"plan": con.plan.id, "region": con.region,
                 "technology": con.plan.technology}.get(by or "", "")
        buckets[frozenset({(by, value)}) if by else frozenset()].append(c)
    return {k: 100 * mean(v) for k, v in buckets.items()}


def period_share() -> dict[Key, float]:
    """Per period: the share of subscribers whose latest decided verdict on only that period's
    tests is pass (inconclusive periods left out, as the whole-window share does)."""
    latest: dict[tuple[str, str], float] = {}
    for _at, period, e in sorted(FLEET.period_windows, key=lambda w: w[0]):
        if e.verdict != "inconclusive":
            latest[(e.subscriber_id, period)] = 1.0 if e.verdict == "pass" else 0.0
    buckets: dict[Key, list[float]] = defaultdict(list)
    for (_sub, period), c in latest.items():
        buckets[frozenset({("period", period)})].append(c)
    return {k: 100 * mean(v) for k, v in buckets.items()}


def mine() -> list[SimTest]:
    return [t for t in FLEET.tests if t.contract.subscriber_id == SUBSCRIBER]


def ms(t: SimTest) -> int:
    return int(t.measurement.started_at.timestamp() * 1000)


def by_probe(value: Callable[[Any], float]) -> dict[Key, float]:
    last = {}
    for s in sorted(FLEET.statuses, key=lambda s: s.at):
        last[frozenset({("probe_id", s.probe_id)})] = value(s)
    return last


def per_server(value: Callable[[list[SimTest]], float]) -> dict[Key, float]:
    out: dict[str, list[SimTest]] = defaultdict(list)
    for t in FLEET.tests:
        out[t.measurement.server].append(t)
    return {frozenset({("server", s)}): value(ts) for s, ts in out.items()}


def window_field(name: str) -> set[float]:
    values = set()
    for _at, e in FLEET.windows:
        if e.subscriber_id == SUBSCRIBER:
            values.add({"compliant": {"pass": 1.0, "shortfall": 0.0}.get(e.verdict),
                        "inconclusive": float(e.verdict == "inconclusive")}[name])
    return values - {None}


def campaign(name: str) -> float:
    [(_at, last)] = [w for w in FLEET.windows if w[1].subscriber_id == CAMPAIGN_SUBSCRIBER][-1:]
    assert last.campaign is not None
    return float(getattr(last.campaign, name))


def scalar(value: float) -> dict[Key, float]:
    return {frozenset(): value}


def rates(field: str) -> set[float]:
    def pick(t: SimTest) -> float | None:
        if field in t.labels:
            return float(t.labels[field])  # type: ignore[arg-type]
        figures = t.measurement.to_json_dict()
        return None if figures.get(field) is None else float(figures[field])
    return {v for t in mine() if (v := pick(t)) is not None}


RATE_FIELDS = {"measured": "{d}_mbps", "bar (primary criterion)": "threshold_{d}_mbps",
               "minimum": "minimum_{d}_mbps", "contracted": "contract_{d}_mbps"}
LATENCY_FIELDS = {"idle": "latency_ms", "loaded, download": "loaded_latency_down_ms",
                  "loaded, upload": "loaded_latency_up_ms"}

# (panel title) -> (how results compare, expected). "value": one number per group; "set": the
# distinct values (raw series; MetricsQL repeats a sample at each step until the next one).
EXPECTED: dict[str, Callable[[PanelQuery], tuple[str, Any]]] = {
    "Compliant tests (达标率)": lambda q: ("value", share(FLEET.tests)),
    "Compliant subscribers": lambda q: ("value", subscriber_share()),
    "Tests": lambda q: ("value", scalar(len(FLEET.tests))),
    "Subscribers with a shortfall": lambda q: (
        "value", scalar(sum(c == 0.0 for c, _ in latest_decided().values()))),
    "Compliant tests by plan": lambda q: ("value", share(FLEET.tests, "plan")),
    "Compliant tests by region": lambda q: ("value", share(FLEET.tests, "region")),
    "Compliant tests by technology": lambda q: ("value", share(FLEET.tests, "technology")),
    "Compliant tests, peak vs off-peak": lambda q: ("value", share(FLEET.tests, "period")),
    "Compliant subscribers by plan": lambda q: ("value", subscriber_share("plan")),
    "Compliant subscribers by region": lambda q: ("value", subscriber_share("region")),
    "Compliant subscribers by technology": lambda q: ("value", subscriber_share("technology")),
    "Compliant subscribers, peak vs off-peak": lambda q: ("value", period_share()),
    "Compliant tests": lambda q: ("value", share(mine())),
    "Per-test verdicts": lambda q: ("value", {
        frozenset({("verdict", v)}): float(sum(t.verdict == v for t in mine()))
        for v in {t.verdict for t in mine()}}),
    "Outbox backlog": lambda q: ("value", by_probe(lambda s: s.outbox_backlog)),
    "Deferred and skipped tests (agent totals)": lambda q: ("value", by_probe(
        lambda s: s.tests_deferred if q.target["refId"] == "A" else s.tests_skipped)),
    "Results per server": lambda q: ("value", per_server({
        "A": lambda ts: float(len(ts)),
        "B": lambda ts: mean(t.measurement.download_mbps or 0.0 for t in ts),
        "C": lambda ts: share(ts)[frozenset()],
    }[q.target["refId"]])),
    "Window verdicts": lambda q: ("set", window_field(q.target.get("alias") or
                                                      q.target.get("legendFormat", ""))),
    "Campaign progress": lambda q: ("value", scalar(campaign(
        ["days_complete", "days_needed", "measurements", "measurements_needed"][
            ord(q.target["refId"]) - ord("A")]))),
    "Confirmed shortfall alerts": lambda q: ("set", {
        1.0 if a.status == "firing" else 0.0 for a in FLEET.alerts
        if a.subscriber == SUBSCRIBER}),
    "Latency: idle vs loaded": lambda q: ("set", rates(LATENCY_FIELDS[
        q.target.get("alias") or q.target["legendFormat"]])),
}


def expected_for(q: PanelQuery) -> tuple[str, Any]:
    title = q.panel["title"]
    if title.endswith("measured against the contract"):
        direction = title.split(":")[0].lower()
        legend = q.target.get("alias") or q.target["legendFormat"]
        return "set", rates(RATE_FIELDS[legend].format(d=direction))
    return EXPECTED[title](q)


def compare(kind: str, got: Result, want: Any, q: PanelQuery) -> None:
    if kind == "value":
        values = {k: v for k, [v] in got.items()}
        if set(want) == {frozenset()} and len(values) == 1:
            values = {frozenset(): next(iter(values.values()))}  # one series, whatever labels
        assert values == pytest.approx(want, rel=1e-9), q.label
    else:
        values = {round(v, 9) for vs in got.values() for v in vs if v is not None}
        assert values == {round(v, 9) for v in want}, q.label


# -- the tests ---------------------------------------------------------------------------------

SPECIAL = {"Last seen", "Worst regions: compliant tests per day", "Measured / contracted, download",
           "Measured / contracted, upload"}


def _regular(flavour: str) -> list[PanelQuery]:
    return [q for q in QUERIES if q.flavour == flavour and q.panel["title"] not in SPECIAL]


def _special(flavour: str, title: str) -> list[PanelQuery]:
    return [q for q in QUERIES if q.flavour == flavour and q.panel["title"] == title]


def test_every_panel_is_covered() -> None:
    titles = {q.panel["title"] for q in QUERIES}
    known = set(EXPECTED) | SPECIAL | {t for t in titles if t.endswith("against the contract")}
    assert titles <= known, titles - known


@pytest.mark.parametrize("q", _regular("influxql"), ids=lambda q: q.label)
def test_influxql_panel(influx: InfluxDB1, q: PanelQuery) -> None:
    got = influx_values(run_influx(influx, q))
    assert got, q.label
    kind, want = expected_for(q)
    compare(kind, got, want, q)


@pytest.mark.parametrize("q", _regular("metricsql"), ids=lambda q: q.label)
def test_metricsql_panel(vm: VictoriaMetrics, q: PanelQuery) -> None:
    got = prom_values(run_metricsql(vm, q))
    assert got, q.label
    kind, want = expected_for(q)
    compare(kind, got, want, q)


def last_seen() -> dict[Key, float]:
    out: dict[Key, float] = {}
    for t in FLEET.tests:
        k = frozenset({("probe_id", t.probe_id)})
        out[k] = max(out.get(k, 0.0), float(ms(t)))
    return out


def test_last_seen(influx: InfluxDB1, vm: VictoriaMetrics) -> None:
    [iq] = _special("influxql", "Last seen")
    got = {key(s["tags"]): float(s["values"][0][0]) for s in run_influx(influx, iq)}
    assert got == last_seen()
    [pq] = _special("metricsql", "Last seen")
    assert {k: v for k, [v] in prom_values(run_metricsql(vm, pq)).items()} == pytest.approx(
        last_seen())


def daily(shift_ms: int) -> dict[tuple[Key, int], float]:
    """Compliant share per region and UTC day, keyed by the day's start + ``shift_ms``."""
    buckets: dict[tuple[Key, int], list[float]] = defaultdict(list)
    for t in FLEET.tests:
        if t.compliant is not None:
            day = ms(t) // DAY_MS * DAY_MS
            buckets[(frozenset({("region", str(t.labels["region"]))}), day + shift_ms)].append(
                t.compliant)
    return {k: 100 * mean(v) for k, v in buckets.items()}


def test_worst_regions_per_day(influx: InfluxDB1, vm: VictoriaMetrics) -> None:
    [iq] = _special("influxql", "Worst regions: compliant tests per day")
    got = {(key(s["tags"]), int(row[0])): row[1] for s in run_influx(influx, iq)
           for row in s["values"]}
    assert got == pytest.approx(daily(0))  # InfluxQL labels a bucket with its start
    [pq] = _special("metricsql", "Worst regions: compliant tests per day")
    got = {(key(r["metric"]), int(float(t) * 1000)): float(v)
           for r in run_metricsql(vm, pq) for t, v in r["values"]}
    assert got == pytest.approx(daily(DAY_MS))  # MetricsQL: the day ending at the step


@pytest.mark.parametrize("direction", ["download", "upload"])
def test_ratio_distribution(influx: InfluxDB1, vm: VictoriaMetrics, direction: str) -> None:
    title = f"Measured / contracted, {direction}"
    ratios = sorted(getattr(t.measurement, f"{direction}_mbps")
                    / float(t.labels[f"contract_{direction}_mbps"])  # type: ignore[arg-type]
                    for t in FLEET.tests)
    [iq] = _special("influxql", title)
    got = sorted(v for vs in influx_values(run_influx(influx, iq)).values() for v in vs)
    assert got == pytest.approx(ratios, rel=1e-12)
    # MetricsQL: cumulative buckets (le) over VictoriaMetrics' log ranges; each must hold
    # exactly the tests at or below its bound.
    [pq] = _special("metricsql", title)
    buckets = {float(r["metric"]["le"]): float(r["value"][1]) for r in run_metricsql(vm, pq)}
    assert buckets[math.inf] == len(ratios)
    assert len(buckets) > 2
    for le, count in buckets.items():
        assert count == sum(r <= le for r in ratios), le
