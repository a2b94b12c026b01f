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


def grafana_influxql(text: str, start_ms: int, end_ms: int, **variables: str) -> str:
    """An InfluxQL panel query as Grafana sends it: ``$timeFilter`` for the range, each
    variable by its value (multi-value variables set to All are ``.*``)."""
    text = text.replace("$timeFilter", f"time >= {start_ms}ms and time <= {end_ms}ms")
    return _variables(text, variables)


def grafana_metricsql(text: str, range_s: int, interval_s: int = 60, **variables: str) -> str:
    """A MetricsQL panel query as Grafana sends it: ``$__range``/``$__interval`` in seconds."""
    text = text.replace("$__range", f"{range_s}s").replace("$__interval", f"{interval_s}s")
    return _variables(text, variables)


def _variables(text: str, variables: dict[str, str]) -> str:
    for name in sorted(variables, key=len, reverse=True):
        text = text.replace(f"${name}", variables[name])
    return text


ALL = {"plan": ".*", "region": ".*", "technology": ".*", "probe": ".*"}


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
