"""A small Grafana dashboard builder: panels with one query per flavour, laid out on the grid.

Why our own and not grafana-foundation-sdk: the SDK has no InfluxQL query model (its maintainers
point to a custom Dataquery type, grafana-foundation-sdk#447), and the dashboards here need the
same panel emitted twice, once with InfluxQL for an ``influxdb`` data source and once with
MetricsQL for a ``prometheus`` one (VictoriaMetrics). This module knows the handful of Grafana
JSON shapes we use (schemaVersion 39, Grafana 11) and nothing about the probe.

The data source is a template variable (``${datasource}``), never ``__inputs``: file
provisioning does not resolve ``__inputs`` (grafana/grafana#10786).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

SCHEMA_VERSION = 39
Flavour = Literal["influxql", "metricsql"]
FLAVOURS: tuple[Flavour, ...] = ("influxql", "metricsql")
PLUGIN: dict[Flavour, str] = {"influxql": "influxdb", "metricsql": "prometheus"}
DATASOURCE = {"type": "datasource", "uid": "${datasource}"}
GRID_WIDTH = 24


@dataclass(frozen=True, slots=True)
class Query:
    """One panel query in both languages.

    ``influxql`` is a raw InfluxQL statement using ``$timeFilter``; ``metricsql`` an expression
    (``$__range`` for whole-range aggregates). ``instant`` asks the Prometheus data source for
    one value at the range's end instead of a series over it. ``legend`` names the series.
    """

    influxql: str
    metricsql: str
    legend: str = ""
    instant: bool = False
    heatmap: bool = False  # MetricsQL: buckets (le) for a histogram-like bar gauge


@dataclass(frozen=True, slots=True)
class Panel:
    """A panel: ``kind`` is the Grafana panel type; ``w``/``h`` its size in grid units."""

    title: str
    kind: str
    queries: tuple[Query, ...]
    description: str = ""
    unit: str = ""
    w: int = 12
    h: int = 8
    thresholds: tuple[tuple[float, str], ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    minimum: float | None = None
    maximum: float | None = None
    interval: str = ""  # the smallest query step, e.g. "1d" for a per-day series


@dataclass(frozen=True, slots=True)
class Variable:
    """A query variable (values from the data source) or a free-text one (``query`` empty)."""

    name: str
    label: str
    influxql: str = ""
    metricsql: str = ""
    multi: bool = True


@dataclass(frozen=True, slots=True)
class Dashboard:
    uid: str
    title: str
    description: str
    panels: tuple[Panel, ...]
    variables: tuple[Variable, ...] = ()
    tags: tuple[str, ...] = ()
    time_from: str = "now-30d"


def render(board: Dashboard, flavour: Flavour) -> dict[str, Any]:
    """The dashboard's JSON model for one flavour (deterministic: same input, same output)."""
    return {
        "uid": f"{board.uid}-{flavour}",
        "title": f"{board.title} ({'InfluxQL' if flavour == 'influxql' else 'MetricsQL'})",
        "description": board.description,
        "tags": ["broadband-probe", flavour, *board.tags],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "time": {"from": board.time_from, "to": "now"},
        "refresh": "",
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "annotations": {"list": [_builtin_annotation()]},
        "templating": {"list": [_datasource_variable(flavour),
                                *(_variable(v, flavour) for v in board.variables)]},
        "panels": _layout(board.panels, flavour),
        "links": [],
    }


def _builtin_annotation() -> dict[str, Any]:
    return {"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
            "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
            "name": "Annotations & Alerts", "type": "dashboard"}


def _datasource_variable(flavour: Flavour) -> dict[str, Any]:
    return {"type": "datasource", "name": "datasource", "label": "Data source",
            "query": PLUGIN[flavour], "refresh": 1, "regex": "", "hide": 0,
            "multi": False, "includeAll": False}


def _variable(var: Variable, flavour: Flavour) -> dict[str, Any]:
    query = var.influxql if flavour == "influxql" else var.metricsql
    if not query:
        return {"type": "textbox", "name": var.name, "label": var.label, "query": "",
                "hide": 0}
    return {
        "type": "query", "name": var.name, "label": var.label, "datasource": DATASOURCE,
        "query": query,  # a string: the schema allows no {query, refId} object here
        "refresh": 2, "sort": 1, "hide": 0, "regex": "",
        "multi": var.multi, "includeAll": var.multi,
        **({"allValue": ".*"} if var.multi else {}),
    }


def influx_alias(legend: str) -> str:
    """A legend in Prometheus form (``{{region}} tests``) as an InfluxQL alias
    (``$tag_region tests``): the two data sources name series differently."""
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", r"$tag_\1", legend)


def _target(query: Query, flavour: Flavour, ref: str) -> dict[str, Any]:
    if flavour == "influxql":
        return {"refId": ref, "datasource": DATASOURCE, "query": query.influxql, "rawQuery": True,
                "resultFormat": "time_series", "alias": influx_alias(query.legend)}
    return {"refId": ref, "datasource": DATASOURCE, "expr": query.metricsql,
            "legendFormat": query.legend or "__auto", "instant": query.instant,
            "range": not query.instant, "format": "heatmap" if query.heatmap else "time_series",
            "editorMode": "code"}


def _field_config(panel: Panel) -> dict[str, Any]:
    defaults: dict[str, Any] = {}
    if panel.unit:
        defaults["unit"] = panel.unit
    if panel.minimum is not None:
        defaults["min"] = panel.minimum
    if panel.maximum is not None:
        defaults["max"] = panel.maximum
    if panel.thresholds:
        # The base step is 0, not null (-Infinity): every value shown here is >= 0, and null
        # fails Grafana's own schema ("Nulls currently appear here when serializing -Infinity").
        defaults["thresholds"] = {"mode": "absolute", "steps": [
            {"value": value, "color": color} for value, color in panel.thresholds]}
        defaults["color"] = {"mode": "thresholds"}
    return {"defaults": defaults, "overrides": []}


def _layout(panels: Sequence[Panel], flavour: Flavour) -> list[dict[str, Any]]:
    """Left to right, wrapping at the grid's width; ids are 1..n in order."""
    out = []
    x = y = row_h = 0
    for number, panel in enumerate(panels, start=1):
        if x + panel.w > GRID_WIDTH:
            x, y, row_h = 0, y + row_h, 0
        out.append({
            "id": number, "type": panel.kind, "title": panel.title,
            "description": panel.description, "datasource": DATASOURCE,
            "gridPos": {"h": panel.h, "w": panel.w, "x": x, "y": y},
            "targets": [_target(q, flavour, chr(ord("A") + i))
                        for i, q in enumerate(panel.queries)],
            "options": dict(panel.options), "fieldConfig": _field_config(panel),
            **({"interval": panel.interval} if panel.interval else {}),
        })
        x += panel.w
        row_h = max(row_h, panel.h)
    return out
