"""A :class:`~probe.report.rollup.FleetReport` as text table, JSON, CSV or one HTML page.

Shares are shown cut (not rounded) to 0.1 % like every verdict detail (``verdict.pct``), so
89.97 % never reads 90 %. The HTML page is self-contained (inline CSS and SVG, no scripts, no
fonts or files fetched) so it can be mailed or archived as evidence.
"""

from __future__ import annotations

import csv
import html
import io
import json
from fractions import Fraction

from probe.compliance.verdict import pct
from probe.report.rollup import FleetReport, GroupResult, Share
from probe.report.summary import DIRECTIONS

SHORTFALLS_IN_TABLE = 20
SHORTFALLS_IN_HTML = 500
PERIOD_NOTE = ("peak / off_peak rows: each subscriber judged by its rule on only its tests in "
               "that period (peak: the profile's peak hours, else 19:00-23:00 local); a period "
               "with too few tests is inconclusive. The all-subscribers row and the shortfalls "
               "are the whole-window verdicts.")


def share_text(share: Share) -> str:
    if share.total == 0:
        return "–"
    lower, upper = (pct(Fraction(v).limit_denominator(10**9)) for v in (share.lower, share.upper))
    return f"{pct(share.compliant, share.total)} [{lower}, {upper}]"


def to_json(report: FleetReport) -> str:
    return json.dumps(report.to_json_dict(), ensure_ascii=False)


def to_csv(report: FleetReport) -> str:
    """One row per group (the whole fleet first, with empty dimension columns)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    header = [*report.by, "subscribers", "pass", "shortfall", "inconclusive",
              "compliant_subscriber_share", "subscriber_lower", "subscriber_upper"]
    for d in DIRECTIONS:
        header += [f"{d}_tests", f"{d}_compliant_tests", f"{d}_test_share", f"{d}_lower",
                   f"{d}_upper"]
    writer.writerow(header)
    for group in (report.overall, *report.groups):
        row: list[object] = [group.key.get(b, "") for b in report.by]
        s = group.subscriber_share
        row += [group.subscribers, group.passed, group.shortfall, group.inconclusive,
                _num(s.share), _num(s.lower), _num(s.upper)]
        for d in DIRECTIONS:
            t = group.test_shares.get(d)
            row += ([t.total, t.compliant, _num(t.share), _num(t.lower), _num(t.upper)]
                    if t else [0, 0, "", "", ""])
        writer.writerow(row)
    return out.getvalue()


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.6f}"


def to_table(report: FleetReport) -> str:
    """A plain-text table for terminals (95 % intervals in brackets)."""
    head = ["group", "subs", "pass", "short", "incon", "compliant subscribers",
            "compliant tests ↓", "compliant tests ↑"]
    rows = [[g.label, str(g.subscribers), str(g.passed), str(g.shortfall), str(g.inconclusive),
             share_text(g.subscriber_share),
             *(share_text(g.test_shares[d]) if d in g.test_shares else "–" for d in DIRECTIONS)]
            for g in (*report.groups, report.overall)]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w)
                       in enumerate(zip(r, widths, strict=True))) for r in [head, *rows]]
    if report.groups:
        lines.insert(len(lines) - 1, "-" * len(lines[0]))
    meta = report.meta
    lines.insert(0, _meta_line(report))
    if report.shortfalls:
        lines.append("")
        lines.append(f"{len(report.shortfalls)} subscriber(s) with a shortfall"
                     + (f" (first {SHORTFALLS_IN_TABLE}; --format json lists all)"
                        if len(report.shortfalls) > SHORTFALLS_IN_TABLE else "") + ":")
        for s in report.shortfalls[:SHORTFALLS_IN_TABLE]:
            lines.append(f"  {s.subscriber_id} ({s.plan}, {s.region}): {s.reasons}")
    if "period" in report.by:
        lines += ["", f"note: {PERIOD_NOTE}"]
    if meta.get("notes"):
        lines.append("")
        lines.extend(f"note: {n}" for n in meta["notes"])
    return "\n".join(lines) + "\n"


def _meta_line(report: FleetReport) -> str:
    m = report.meta
    window = ("all measurements" if not (m.get("from") or m.get("to")) else
              f"from {m.get('from') or 'the first'} to {m.get('to') or 'the last'} measurement")
    return (f"{m.get('measurements', 0):,} measurements, {report.overall.subscribers:,} "
            f"subscribers, {window}; profile {m.get('profile') or 'of each plan'}; "
            f"shares with 95 % Clopper-Pearson intervals")


_CSS = """
body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#1d2430}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px}
.meta{color:#5a6475;margin-bottom:16px}
.cards{display:flex;gap:12px;flex-wrap:wrap}
.card{border:1px solid #d8dde6;border-radius:8px;padding:10px 14px;min-width:170px}
.card b{display:block;font-size:22px} .card span{color:#5a6475;font-size:12px}
table{border-collapse:collapse;width:100%}
th,td{padding:4px 6px;border-bottom:1px solid #e6e9ef;font-size:13px}
th{text-align:left;background:#f4f6f9;font-weight:600} td.n{text-align:right;
font-variant-numeric:tabular-nums} .bad{color:#b3261e} .ok{color:#1b6e3a}
td{white-space:nowrap} .why{color:#434c5e;font-size:12px;white-space:normal}
.note{color:#5a6475;font-size:12px}
"""


def _bar(share: Share) -> str:
    """An SVG bar 0–100 % with the interval as a whisker."""
    if share.total == 0 or share.share is None:
        return "<span class='note'>no decided data</span>"
    width = 110
    x, lo, hi = (round(v * width, 1) for v in (share.share, share.lower, share.upper))
    colour = "#1b6e3a" if share.share >= 0.9 else "#c77700" if share.share >= 0.7 else "#b3261e"
    label = html.escape(share_text(share))
    return (f"<svg width='{width}' height='14' role='img' aria-label='{label}'>"
            f"<rect width='{width}' height='14' fill='#eef1f5'/>"
            f"<rect width='{x}' height='14' fill='{colour}' opacity='0.8'/>"
            f"<line x1='{lo}' x2='{hi}' y1='7' y2='7' stroke='#1d2430' stroke-width='2'/>"
            f"<line x1='{lo}' x2='{lo}' y1='3' y2='11' stroke='#1d2430'/>"
            f"<line x1='{hi}' x2='{hi}' y1='3' y2='11' stroke='#1d2430'/></svg>")


def _group_row(g: GroupResult, first: str) -> str:
    cells = [f"<td>{first}</td>", f"<td class='n'>{g.subscribers:,}</td>",
             f"<td class='n ok'>{g.passed:,}</td>", f"<td class='n bad'>{g.shortfall:,}</td>",
             f"<td class='n'>{g.inconclusive:,}</td>",
             f"<td>{_bar(g.subscriber_share)} {html.escape(share_text(g.subscriber_share))}</td>"]
    for d in DIRECTIONS:
        t = g.test_shares.get(d)
        cells.append(f"<td class='n'>{html.escape(share_text(t)) if t else '–'}</td>")
    return "<tr>" + "".join(cells) + "</tr>"


def to_html(report: FleetReport, title: str = "Fleet compliance report") -> str:
    esc = html.escape
    o = report.overall
    cards = [
        (share_text(o.subscriber_share).split(" [")[0], "compliant subscribers (达标率)"),
        *((share_text(o.test_shares[d]).split(" [")[0], f"compliant {d} tests")
          for d in DIRECTIONS if d in o.test_shares),
        (f"{o.shortfall:,}", "subscribers with a shortfall"),
        (f"{o.inconclusive:,}", "inconclusive (not enough evidence yet)"),
    ]
    head = ("<tr><th>" + esc(" / ".join(report.by) or "group") + "</th><th>subscribers</th>"
            "<th>pass</th><th>shortfall</th><th>inconclusive</th>"
            "<th>compliant subscribers, 95 % interval</th><th>compliant tests ↓</th>"
            "<th>compliant tests ↑</th></tr>")
    rows = [_group_row(g, esc(g.label)) for g in report.groups]
    rows.append(_group_row(o, "<b>all subscribers</b>"))
    worst = "".join(
        f"<li>{esc(g.label)}: {esc(share_text(g.subscriber_share))} "
        f"({g.shortfall:,} of {g.subscriber_share.total:,} decided subscribers short)</li>"
        for g in report.worst())
    shown = report.shortfalls[:SHORTFALLS_IN_HTML]
    short_rows = "".join(
        f"<tr><td>{esc(s.subscriber_id)}</td><td>{esc(s.plan)}</td><td>{esc(s.region)}</td>"
        f"<td>{esc(s.technology)}</td><td class='why'>{esc(s.reasons)}</td></tr>" for s in shown)
    more = (f"<p class='note'>{len(report.shortfalls) - len(shown):,} more: "
            "<code>probe report --format json</code> lists every one.</p>"
            if len(report.shortfalls) > len(shown) else "")
    notes = "".join(f"<p class='note'>{esc(n)}</p>" for n in report.meta.get("notes", ()))
    period_note = (f"\n<p class='note'>{esc(PERIOD_NOTE)}</p>" if "period" in report.by
                   else "")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>
<style>{_CSS}</style></head><body>
<h1>{esc(title)}</h1>
<div class="meta">{esc(_meta_line(report))}. Source: {esc(str(report.meta.get('source', '')))}</div>
<div class="cards">{''.join(f'<div class="card"><b>{esc(v)}</b><span>{esc(k)}</span></div>'
                            for v, k in cards)}</div>
<h2>By {esc(', '.join(report.by) or 'fleet')}</h2>
<table>{head}{''.join(rows)}</table>
<p class="note">Compliant subscribers: window verdict pass ÷ (pass + shortfall); inconclusive
subscribers are not evidence either way. Compliant tests: tests the rule counted that reached
its primary bar. Intervals are exact (Clopper–Pearson) 95 %; tests of one line are correlated,
so the test interval is narrower than the truth.</p>{period_note}
<h2>Worst groups</h2><ol>{worst or '<li>none decided</li>'}</ol>
<h2>Shortfalls ({len(report.shortfalls):,})</h2>
<table><tr><th>subscriber</th><th>plan</th><th>region</th><th>technology</th><th>why</th></tr>
{short_rows}</table>{more}{notes}
</body></html>
"""
