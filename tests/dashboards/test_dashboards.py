"""The committed dashboards: generated, valid against Grafana's schema, provisionable, and
naming only what the data model defines."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from dashboards.build import generated
from dashboards.build import main as build_main
from tests.dashboards.queries import (
    ROOT,
    SERIES,
    SPECS,
    PanelQuery,
    dashboard_files,
    influx_names,
    load,
    panel_queries,
    prom_names,
)

SCHEMA_FILE = ROOT / "schema" / "dashboard.jsonschema.json"
QUERIES = list(panel_queries())
FILES = dashboard_files()


def test_committed_json_is_the_generators_output() -> None:
    files = generated()
    assert set(files) == set(FILES)
    for path, text in files.items():
        assert path.read_text(encoding="utf-8") == text, path
    assert build_main(["--check"]) == 0


def test_check_mode_notices_a_hand_edit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dashboards import build

    monkeypatch.setattr(build, "ROOT", tmp_path)
    assert build.main([]) == 0
    victim = tmp_path / "influxql" / "subscriber.json"
    victim.write_text(victim.read_text(encoding="utf-8").replace("Latency", "Lag"), "utf-8")
    assert build.main(["--check"]) == 1


def test_schema_copy_ships_with_its_licence() -> None:
    assert (ROOT / "schema" / "LICENSE").read_text(encoding="utf-8").lstrip().startswith(
        "Apache License")


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
class TestEachDashboard:
    def test_validates_against_grafanas_schema(self, path: Path) -> None:
        schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
        validator = jsonschema.Draft7Validator(schema)
        errors = [f"{list(e.absolute_path)}: {e.message}"
                  for e in validator.iter_errors(load(path))]
        assert errors == []

    def test_provisionable(self, path: Path) -> None:
        model = load(path)
        assert model["schemaVersion"] >= 39
        assert not {"__inputs", "__requires", "__elements", "id"} & set(model)
        [ds_var] = [v for v in model["templating"]["list"] if v["type"] == "datasource"]
        assert ds_var["query"] == {"influxql": "influxdb", "metricsql": "prometheus"}[
            path.parent.name]
        refs = [p["datasource"] for p in model["panels"]] + [
            t["datasource"] for p in model["panels"] for t in p["targets"]]
        assert {json.dumps(r, sort_keys=True) for r in refs} == {
            json.dumps({"type": "datasource", "uid": "${datasource}"}, sort_keys=True)}

    def test_panel_ids_unique_and_grid_has_no_overlap(self, path: Path) -> None:
        panels = load(path)["panels"]
        ids = [p["id"] for p in panels]
        assert len(ids) == len(set(ids))
        cells: set[tuple[int, int]] = set()
        for p in panels:
            g = p["gridPos"]
            assert g["x"] + g["w"] <= 24
            mine = {(g["x"] + dx, g["y"] + dy) for dx in range(g["w"]) for dy in range(g["h"])}
            assert not mine & cells, p["title"]
            cells |= mine

    def test_both_flavours_have_the_same_panels(self, path: Path) -> None:
        other = ROOT / ({"influxql": "metricsql", "metricsql": "influxql"}[path.parent.name]) \
            / path.name
        titles = [(p["title"], len(p["targets"])) for p in load(path)["panels"]]
        assert titles == [(p["title"], len(p["targets"])) for p in load(other)["panels"]]


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: q.label)
def test_every_query_is_time_bounded_and_uses_only_data_model_names(query: PanelQuery) -> None:
    text = query.text
    if query.flavour == "influxql":
        measurements, idents, aliases = influx_names(text)
        # Every SELECT (subqueries included) is limited to the dashboard's range.
        assert text.count("SELECT") == text.count("$timeFilter"), text
        assert measurements, text
        assert measurements <= set(SPECS), measurements
        known = set().union(*(SPECS[m].tag_names | SPECS[m].field_names for m in measurements))
        assert idents - aliases <= known, idents - aliases - known
    else:
        series, labels = prom_names(text)
        assert series, text
        assert series <= set(SERIES), series - set(SERIES)
        known = set().union(*(SERIES[s].tag_names for s in series)) | {"vmrange"}
        assert labels <= known, labels - known
        if query.target["instant"]:
            # An instant query sees only its lookbehind window: it must be the range.
            assert "[$__range]" in text, text
        else:
            assert query.target["range"] is True
