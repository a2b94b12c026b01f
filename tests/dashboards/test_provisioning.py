"""deploy/grafana: data sources, dashboard provider and alert rules fit the dashboards and the
data model (Grafana itself is not installable here: the files are checked by structure, and
their queries are run on the real servers in test_alert_rules.py)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from tests.dashboards.queries import ROOT, SPECS, dashboard_files, influx_names, load

DEPLOY = ROOT.parent / "deploy" / "grafana"
PROVISIONING = DEPLOY / "provisioning"


def read(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def datasources() -> dict[str, dict[str, Any]]:
    doc = read(PROVISIONING / "datasources" / "broadband.yaml")
    assert doc["apiVersion"] == 1
    return {d["uid"]: d for d in doc["datasources"]}


def grafana_rules() -> list[dict[str, Any]]:
    doc = read(PROVISIONING / "alerting" / "broadband-rules.yaml")
    assert doc["apiVersion"] == 1
    return [rule for group in doc["groups"] for rule in group["rules"]]


def test_every_dashboard_flavour_has_a_provisioned_data_source() -> None:
    types = {d["type"] for d in datasources().values()}
    for path in dashboard_files():
        [var] = [v for v in load(path)["templating"]["list"] if v["type"] == "datasource"]
        assert var["query"] in types, path
    influx = datasources()["broadband-influxdb"]
    assert influx["jsonData"]["dbName"] == "probe"  # what `probe forward` writes by default


def test_provider_reads_the_dashboard_folders() -> None:
    doc = read(PROVISIONING / "dashboards" / "broadband.yaml")
    [provider] = doc["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["foldersFromFilesStructure"] is True
    assert provider["allowUiUpdates"] is False
    # The README's install step copies these directories under the provider's path.
    assert {p.parent.name for p in dashboard_files()} == {"influxql", "metricsql"}


def test_grafana_rules_are_well_formed() -> None:
    rules = grafana_rules()
    assert len({r["uid"] for r in rules}) == len(rules)
    sources = set(datasources()) | {"__expr__"}
    for rule in rules:
        refs = {d["refId"] for d in rule["data"]}
        assert rule["condition"] in refs, rule["uid"]
        for item in rule["data"]:
            assert item["datasourceUid"] in sources, rule["uid"]
            assert item["model"]["refId"] == item["refId"]
            model = item["model"]
            if item["datasourceUid"] == "__expr__":
                used = set(re.findall(r"\$(\w+)", model["expression"])) or {model["expression"]}
                assert used <= refs - {item["refId"]}, (rule["uid"], used)
            else:
                assert item["relativeTimeRange"]["from"] > 0
                assert model["rawQuery"] is True


def test_grafana_rule_queries_use_the_time_filter_and_data_model_names() -> None:
    for rule in grafana_rules():
        for item in rule["data"]:
            query = item["model"].get("query")
            if query is None:
                continue
            measurements, idents, aliases = influx_names(query)
            assert query.count("SELECT") == query.count("$timeFilter"), query
            assert measurements <= set(SPECS), measurements
            known = set().union(*(SPECS[m].tag_names | SPECS[m].field_names
                                  for m in measurements))
            assert idents - aliases <= known, idents - aliases - known
            # Every label an annotation quotes is one the query groups by.
            grouped = set(re.findall(r'GROUP BY (.*)', query)[0].replace('"', "").split(", "))
            text = " ".join(rule["annotations"].values())
            assert set(re.findall(r"\$labels\.(\w+)", text)) <= grouped, rule["uid"]
