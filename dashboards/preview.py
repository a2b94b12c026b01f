"""A static HTML preview of an InfluxQL dashboard with live data, for where no Grafana runs.

    python -m dashboards.preview --url http://localhost:8086 --db probe \\
        --dashboard fleet-compliance --from 2026-03-01T00:00:00Z --to 2026-03-05T00:00:00Z \\
        [--var subscriber=DE-BE-000001] --out preview.html

It runs every panel's InfluxQL exactly as the dashboard holds it (template variables
substituted as Grafana does: ``$timeFilter``, multi-value variables as ``.*`` unless given) and
draws each panel on the dashboard's own grid: stat values, bar gauges, line charts, histograms
and tables as plain HTML/SVG. It is a check that the panels have data and look sensible — not a
replacement for Grafana's rendering.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import sys
import urllib.parse
import urllib.request
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
Series = list[tuple[str, list[tuple[int, float]]]]


def substitute(query: str, start_ms: int, end_ms: int, variables: Mapping[str, str]) -> str:
    text = query.replace("$timeFilter", f"time >= {start_ms}ms and time <= {end_ms}ms")
    for name, value in sorted(variables.items(), key=lambda kv: -len(kv[0])):
        text = text.replace(f"${name}", value)
    return text


def run(url: str, db: str, query: str, alias: str = "") -> Series:
    """One InfluxQL query; each series as (name, [(time ms, first value)]), named by the
    target's alias with ``$tag_x`` filled in as Grafana does, else by its tags."""
    params = urllib.parse.urlencode({"q": query, "db": db, "epoch": "ms"})
    with urllib.request.urlopen(f"{url.rstrip('/')}/query?{params}", timeout=30) as resp:
        result = json.loads(resp.read())["results"][0]
    if "error" in result:
        raise ValueError(f"{result['error']}: {query}")
    out: Series = []
    for s in result.get("series", []):
        points = [(int(r[0]), float(r[1])) for r in s["values"] if r[1] is not None]
        out.append((_series_name(alias, s.get("tags", {}), s["columns"][1]), points))
    return out


def _series_name(alias: str, tags: Mapping[str, str], column: str) -> str:
    named = re.sub(r"\$tag_(\w+)", lambda m: str(tags.get(m.group(1), "")), alias)
    return named or ", ".join(str(v) for v in tags.values()) or column


def _fmt(value: float, unit: str) -> str:
    if unit == "percent":
        return f"{value:.1f} %"
    if unit == "percentunit":
        return f"{value * 100:.1f} %"
    if unit == "dateTimeAsIso":
        return datetime.fromtimestamp(value / 1000, UTC).isoformat(timespec="minutes")
    return f"{value:g}"


def _line_chart(series: Series) -> str:
    points = [p for _, pts in series for p in pts]
    if not points:
        return ""
    t0, t1 = min(t for t, _ in points), max(t for t, _ in points)
    top = max(v for _, v in points) or 1.0
    colours = ("#3274d9", "#e02f44", "#ff9830", "#56a64b", "#a352cc")
    lines = []
    for i, (name, pts) in enumerate(series):
        xy = " ".join(f"{(t - t0) / max(1, t1 - t0) * 380 + 10:.1f},"
                      f"{150 - v / top * 130:.1f}" for t, v in pts)
        colour = colours[i % len(colours)]
        lines.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" '
                     f'points="{xy}"/><text x="12" y="{14 + 12 * i}" fill="{colour}" '
                     f'font-size="10">{html.escape(name)}</text>')
    return (f'<svg viewBox="0 0 400 160" preserveAspectRatio="none">{"".join(lines)}'
            f'<text x="330" y="158" font-size="9">max {top:g}</text></svg>')


def _histogram(values: list[float], unit: str) -> str:
    if not values:
        return ""
    low, high = min(values), max(values)
    bins = [0] * 20
    for v in values:
        bins[min(19, int((v - low) / ((high - low) or 1) * 20))] += 1
    peak = max(bins)
    bars = "".join(f'<rect x="{10 + i * 19}" y="{150 - b / peak * 130:.1f}" width="17" '
                   f'height="{b / peak * 130:.1f}" fill="#3274d9"/>' for i, b in enumerate(bins))
    return (f'<svg viewBox="0 0 400 160">{bars}<text x="10" y="159" font-size="9">'
            f'{_fmt(low, unit)}</text><text x="340" y="159" font-size="9">{_fmt(high, unit)}'
            "</text></svg>")


def render_panel(panel: dict[str, Any], results: list[Series]) -> str:
    unit = panel["fieldConfig"]["defaults"].get("unit", "")
    kind = panel["type"]
    named = [(name, pts) for series in results for name, pts in series]
    if not any(pts for _, pts in named):
        body = '<p class="empty">no data</p>'
    elif kind == "stat":
        body = "".join(f'<div class="stat">{_fmt(pts[-1][1], unit)}<small>{html.escape(n)}'
                       "</small></div>" for n, pts in named if pts)
    elif kind == "bargauge":
        top = 100.0 if unit == "percent" else max(pts[-1][1] for _, pts in named if pts) or 1
        body = "".join(f'<div class="bar"><span>{html.escape(n)}</span><i style="width:'
                       f'{pts[-1][1] / top * 100:.1f}%"></i><b>{_fmt(pts[-1][1], unit)}</b></div>'
                       for n, pts in named if pts)
    elif kind == "histogram":
        body = _histogram([v for _, pts in named for _, v in pts], unit)
    elif kind == "table":
        rows = "".join(f"<tr><td>{html.escape(n)}</td><td>"
                       f"{_fmt(pts[-1][0] if unit == 'dateTimeAsIso' else pts[-1][1], unit)}"
                       "</td></tr>" for n, pts in named if pts)
        body = f"<table>{rows}</table>"
    else:
        body = _line_chart(named)
    g = panel["gridPos"]
    return (f'<section style="grid-column:{g["x"] + 1}/span {g["w"]};grid-row:{g["y"] + 1}/'
            f'span {g["h"]}"><h2>{html.escape(panel["title"])}</h2>{body}</section>')


STYLE = """body{font-family:sans-serif;background:#f4f5f8;margin:12px}
main{display:grid;grid-template-columns:repeat(24,1fr);grid-auto-rows:32px;gap:6px}
section{background:#fff;border:1px solid #ddd;border-radius:3px;padding:6px;overflow:hidden}
h1{font-size:18px}h2{font-size:13px;margin:0 0 4px}
.stat{display:inline-block;margin-right:18px;font-size:28px;font-weight:bold;color:#1f60c4}
.stat small{display:block;font-size:10px}
.bar{display:grid;grid-template-columns:30% 1fr 60px;font-size:11px;align-items:center}
.bar i{display:block;height:10px;background:#56a64b}.empty{color:#c00}
table{font-size:11px;border-collapse:collapse}td{border-bottom:1px solid #eee;padding:2px 6px}
svg{width:100%;height:80%}"""


def preview(model: dict[str, Any], *, url: str, db: str, start_ms: int, end_ms: int,
            variables: Mapping[str, str]) -> str:
    """The dashboard as one HTML page with each panel's live data."""
    names = {v["name"]: ".*" for v in model["templating"]["list"] if v["type"] == "query"}
    names.update(variables)
    panels = [render_panel(p, [run(url, db, substitute(t["query"], start_ms, end_ms, names),
                                   t.get("alias", "")) for t in p["targets"]])
              for p in model["panels"]]
    return (f'<!doctype html><meta charset="utf-8"><title>{html.escape(model["title"])}'
            f"</title><style>{STYLE}</style><h1>{html.escape(model['title'])}</h1>"
            f"<main>{''.join(panels)}</main>")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dashboards.preview", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="InfluxDB 1.x base URL")
    parser.add_argument("--db", default="probe", help="database (default: probe)")
    parser.add_argument("--dashboard", required=True,
                        help="name under dashboards/influxql/, e.g. fleet-compliance")
    parser.add_argument("--from", dest="start", required=True, help="ISO time, e.g. 2026-03-01Z")
    parser.add_argument("--to", dest="end", required=True, help="ISO time")
    parser.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                        help="a template variable's value (default for multi-value: all)")
    parser.add_argument("--out", required=True, help="HTML file to write")
    args = parser.parse_args(argv)
    path = ROOT / "influxql" / f"{args.dashboard}.json"
    try:
        model = json.loads(path.read_text(encoding="utf-8"))
        start, end = (int(datetime.fromisoformat(t).timestamp() * 1000)
                      for t in (args.start, args.end))
        variables = dict(v.split("=", 1) for v in args.var)
        page = preview(model, url=args.url, db=args.db, start_ms=start, end_ms=end,
                       variables=variables)
    except (OSError, ValueError) as exc:
        print(f"dashboards.preview: error: {exc}", file=sys.stderr)
        return 2
    Path(args.out).write_text(page, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
