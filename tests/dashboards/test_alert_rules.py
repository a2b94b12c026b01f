"""Alert rules: vmalert's dry run accepts ours, every rule's query gives exactly the alerts the
rule functions call for on the simulated fleet (VictoriaMetrics for the vmalert rules, influxd
1.x for the Grafana rules), and end to end a shortfall written to VictoriaMetrics reaches a
webhook through vmalert and Alertmanager routed by the shipped example configuration."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import mean
from typing import Any

import pytest

from probe.sinks.fleetpoints import encode_window_verdict
from tests.alertkit import ALERTMANAGER, Alertmanager, WebhookReceiver
from tests.dashboards.conftest import DB, FLEET
from tests.dashboards.queries import SERIES, prom_names
from tests.dashboards.test_panel_queries import latest_decided, ms
from tests.dashboards.test_provisioning import DEPLOY, grafana_rules, read
from tests.servicekit import InfluxDB1, VictoriaMetrics, _wait_ready
from tests.support import free_port, stop_process

VMALERT = shutil.which("vmalert") or "/usr/bin/vmalert"
RULES = DEPLOY / "vmalert" / "broadband-rules.yml"
AM_EXAMPLE = DEPLOY / "alertmanager.example.yml"
END = FLEET.end
pytestmark = pytest.mark.services


def vm_rules() -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for g in read(RULES)["groups"] for r in g["rules"]}


def dry_run(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([VMALERT, "-dryRun", f"-rule={path}", "-loggerLevel=ERROR"],
                          capture_output=True, text=True, timeout=60, check=False)


def test_vmalert_dry_run_accepts_the_rules_and_refuses_a_broken_copy(tmp_path: Path) -> None:
    ok = dry_run(RULES)
    assert ok.returncode == 0, ok.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text(RULES.read_text(encoding="utf-8").replace(
        'last_over_time(broadband_window_compliant{period=""}[2d]) == 0',
        'last_over_time(broadband_window_compliant{period=""}[2d] == 0'), encoding="utf-8")
    assert dry_run(broken).returncode != 0


def test_vmalert_rules_name_only_data_model_series() -> None:
    for name, rule in vm_rules().items():
        series, labels = prom_names(rule["expr"])
        assert series, name
        assert series <= set(SERIES), (name, series - set(SERIES))
        known = set().union(*(SERIES[s].tag_names for s in series))
        assert labels <= known, (name, labels - known)
        text = " ".join(rule["annotations"].values())
        assert set(re.findall(r"\$labels\.(\w+)", text)) <= known, name


# -- what the rule functions say should fire at the end of the simulated fleet ---------------

def shortfall_subscribers() -> set[str]:
    return {s for s, (c, _con) in latest_decided().items() if c == 0.0}


def regions_below_target(now: datetime) -> set[tuple[str, str]]:
    judged: dict[tuple[str, str], list[float]] = defaultdict(list)
    for t in FLEET.tests:
        if t.compliant is not None and now - timedelta(days=1) < t.measurement.started_at <= now:
            judged[(str(t.labels["region"]), str(t.labels["plan"]))].append(t.compliant)
    return {k for k, v in judged.items() if len(v) >= 20 and 100 * mean(v) < 90}


def silent_probes(now: datetime) -> set[str]:
    last: dict[str, int] = {}
    for t in FLEET.tests:
        last[t.probe_id] = max(last.get(t.probe_id, 0), ms(t))
    return {p for p, t in last.items() if now.timestamp() * 1000 - t > 6 * 3600 * 1000}


def firing(vm: VictoriaMetrics, alert: str, at: datetime, *labels: str) -> set[Any]:
    result = vm.query(vm_rules()[alert]["expr"], at.timestamp())
    keys = {tuple(r["metric"][label] for label in labels) for r in result}
    return {k[0] for k in keys} if len(labels) == 1 else keys


def test_vmalert_rules_fire_for_what_the_rules_call_for(vm: VictoriaMetrics) -> None:
    assert shortfall_subscribers()
    assert firing(vm, "BroadbandWindowShortfall", END, "subscriber_id") == \
        shortfall_subscribers()
    assert regions_below_target(END)
    assert firing(vm, "BroadbandRegionBelowTarget", END, "region", "plan") == \
        regions_below_target(END)
    assert firing(vm, "BroadbandProbeSilent", END, "probe_id") == set()
    later = END + timedelta(hours=7)
    assert firing(vm, "BroadbandProbeSilent", later, "probe_id") == silent_probes(later) != set()
    assert firing(vm, "BroadbandOutboxBacklog", END, "probe_id") == set()  # backlog < 500


def grafana_series(server: InfluxDB1, query: str, seconds: int, end: datetime = END
                   ) -> dict[frozenset[Any], float]:
    """The query over [end - seconds, end], reduced to the last value per series."""
    end_ms = int(end.timestamp() * 1000)
    text = query.replace("$timeFilter", f"time > {end_ms - seconds * 1000}ms and "
                                        f"time <= {end_ms}ms")
    series = server.series(text, DB)
    return {frozenset(s["tags"].items()): s["values"][-1][1] for s in series}


def test_grafana_rules_fire_for_what_the_rules_call_for(influx: InfluxDB1) -> None:
    rules = {r["uid"]: r for r in grafana_rules()}

    def query(uid: str, ref: str) -> tuple[str, int]:
        [item] = [d for d in rules[uid]["data"] if d["refId"] == ref]
        return item["model"]["query"], item["relativeTimeRange"]["from"]

    # reduce(last) then threshold < 0.5, as the rule's expressions say.
    latest = grafana_series(influx, *query("broadband-window-shortfall", "A"))
    fired = {dict(k)["subscriber_id"] for k, v in latest.items() if v < 0.5}
    assert fired == shortfall_subscribers()
    # $B < 90 && $M >= 20 on series matched by their labels.
    shares = grafana_series(influx, *query("broadband-region-below-target", "A"))
    counts = grafana_series(influx, *query("broadband-region-below-target", "N"))
    fired_regions = {(dict(k)["region"], dict(k)["plan"]) for k, v in shares.items()
                     if v < 90 and counts[k] >= 20}
    assert fired_regions == regions_below_target(END)
    # Status points come at 12:00 UTC; half an hour later every probe has one in the range.
    noon = FLEET.statuses[-1].at.replace(hour=12, minute=30, second=0)
    backlog = grafana_series(influx, *query("broadband-outbox-backlog", "A"), end=noon)
    assert {dict(k)["probe_id"]: v for k, v in backlog.items()} == {
        s.probe_id: s.outbox_backlog for s in FLEET.statuses
        if noon - timedelta(hours=1) < s.at <= noon}
    assert not {k for k, v in backlog.items() if v > 500}


# -- end to end: VictoriaMetrics -> vmalert -> Alertmanager (shipped route) -> webhook ---------

@pytest.fixture
def vmalert_chain(vm: VictoriaMetrics, tmp_path: Path
                  ) -> Iterator[tuple[WebhookReceiver, Alertmanager]]:
    if not Path(ALERTMANAGER).exists() or not Path(VMALERT).exists():
        pytest.skip("vmalert / prometheus-alertmanager are not installed (.ci/setup does it)")
    hook = WebhookReceiver()
    hook.start()
    assert hook.server is not None
    base = f"http://127.0.0.1:{hook.server.server_address[1]}"
    # The shipped route and receivers, with the test's webhook and second-scale waits.
    config = AM_EXAMPLE.read_text(encoding="utf-8").replace("http://127.0.0.1:9099", base)
    config = re.sub(r"group_wait: \w+", "group_wait: 1s", config)
    config = re.sub(r"group_interval: \w+", "group_interval: 1s", config)
    am = Alertmanager(tmp_path / "am", base, config=config)
    rules = tmp_path / "rules.yml"
    rules.write_text(re.sub(r"interval: 5m", "interval: 1s", RULES.read_text("utf-8")), "utf-8")
    port = free_port()
    proc = None
    try:
        am.start()
        log = tmp_path / "vmalert.log"
        with log.open("ab") as out:
            proc = subprocess.Popen(
                [VMALERT, f"-rule={rules}", f"-datasource.url={vm.url}",
                 f"-notifier.url={am.url}", f"-httpListenAddr=127.0.0.1:{port}",
                 "-evaluationInterval=1s", "-loggerLevel=WARN"],
                stdout=out, stderr=subprocess.STDOUT)
        _wait_ready(f"http://127.0.0.1:{port}/health", proc, log, {200})
        yield hook, am
    finally:
        stop_process(proc, timeout_s=15)
        am.stop()
        hook.stop()


def test_a_shortfall_reaches_the_webhook(
    vm: VictoriaMetrics, vmalert_chain: tuple[WebhookReceiver, Alertmanager]
) -> None:
    hook, _am = vmalert_chain
    [(_at, evaluation)] = [w for w in FLEET.windows if w[1].verdict == "shortfall"][:1]
    contract = dataclasses.replace(FLEET.contracts[evaluation.subscriber_id],
                                   subscriber_id="E2E-1")
    # Two minutes back: VictoriaMetrics hides the newest 30 s from queries (latencyOffset).
    at = datetime.now(UTC) - timedelta(minutes=2)
    line = encode_window_verdict(dataclasses.replace(evaluation, subscriber_id="E2E-1"),
                                 contract, at)
    assert vm.write_lines([line]) == 204
    vm.force_flush()
    deadline = time.monotonic() + 60
    alerts: list[tuple[str, dict[str, Any]]] = []
    while time.monotonic() < deadline and not alerts:
        hook.wait_for(1, timeout_s=2)
        alerts = [(path, a) for path, body in zip(hook.paths, hook.bodies, strict=True)
                  for a in body["alerts"]
                  if a["labels"].get("subscriber_id") == "E2E-1"]
    assert alerts, hook.bodies
    path, alert = alerts[0]
    assert path == "/compliance"  # routed by the shipped example's team/region grouping
    assert alert["status"] == "firing"
    assert alert["labels"]["alertname"] == "BroadbandWindowShortfall"
    assert alert["labels"]["plan"] == contract.plan.id
    assert "E2E-1" in alert["annotations"]["summary"]
