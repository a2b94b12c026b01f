"""What the dashboard tests read out of the generated JSON: files, panels, queries, names."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from probe.sinks.lineprotocol import SCHEMA

ROOT = Path(__file__).resolve().parents[2] / "dashboards"
FLAVOUR_DIRS = ("influxql", "metricsql")
SPECS = {spec.name: spec for spec in SCHEMA}
# Series names VictoriaMetrics makes of the data model: {measurement}_{field} -> measurement.
SERIES = {f"{spec.name}_{f.name}": spec for spec in SCHEMA for f in spec.fields}


@dataclass(frozen=True)
class PanelQuery:
    file: str
    flavour: str
    panel: dict[str, Any]
    target: dict[str, Any]

    @property
    def text(self) -> str:
        return str(self.target["query"] if self.flavour == "influxql" else self.target["expr"])

    @property
    def label(self) -> str:
        return f"{self.flavour}/{self.file}:{self.panel['title']}:{self.target['refId']}"


def dashboard_files() -> list[Path]:
    return sorted(p for d in FLAVOUR_DIRS for p in (ROOT / d).glob("*.json"))


def load(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text(encoding="utf-8")))


def panel_queries() -> Iterator[PanelQuery]:
    for path in dashboard_files():
        model = load(path)
        for panel in model["panels"]:
            for target in panel["targets"]:
                yield PanelQuery(path.stem, path.parent.name, panel, target)


def influx_names(query: str) -> tuple[set[str], set[str], set[str]]:
    """(measurements, quoted identifiers used, aliases defined) of an InfluxQL statement."""
    measurements = set(re.findall(r'FROM "([^"]+)"', query))
    aliases = set(re.findall(r'AS "([^"]+)"', query))
    idents = set(re.findall(r'"([^"]+)"', query)) - measurements
    return measurements, idents, aliases


def prom_names(expr: str) -> tuple[set[str], set[str]]:
    """(series names, label names) an expression selects or groups by."""
    series = set(re.findall(r"\b(broadband\w*)", expr))
    labels: set[str] = set()
    for selector in re.findall(r"\{([^}]*)\}", expr):
        labels.update(re.findall(r"(\w+)\s*[=!]~?", selector))
    for group in re.findall(r"\bby \(([^)]*)\)", expr):
        labels.update(n.strip() for n in group.split(","))
    return series, labels
