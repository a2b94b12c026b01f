"""The report page: one self-contained HTML document (fonts and charts embedded as data URIs)
that a browser shows and WeasyPrint prints to PDF, with every label in English and
Simplified Chinese.

Order, as the customer reads it: the verdict for the ISP and why, the contract, the results
against each bar, who or what limited the test (attribution, with fixes), the charts, the
environment facts with their sources, and the method notes.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

from probe.compliance.attribution import Attribution, FieldCheck, plan_rate_mbps
from probe.compliance.attribution_text import VERDICT_WORDS
from probe.compliance.contract import RATE_NAMES
from probe.compliance.verdict import TestVerdict
from probe.environment import Fact, HostFacts
from probe.fieldreport.fonts import FAMILY, SubsetFont
from probe.measurement import Measurement

RATE_WORDS = {"maximum": ("maximum", "最高/签约"), "normally_available": ("normally available",
                                                                       "正常可用"),
              "minimum": ("minimum", "最低"), "advertised": ("advertised", "宣传")}
FACT_WORDS = {
    "route.server_ip": ("server address", "服务器地址"),
    "route.interface": ("interface to the server", "通往服务器的网卡"),
    "host.container": ("running in a container", "是否在容器中运行"),
    "link.kind": ("link kind", "连接类型"),
    "link.speed_mbps": ("Ethernet negotiated speed (Mbit/s)", "以太网协商速率"),
    "link.duplex": ("Ethernet duplex", "以太网双工模式"),
    "wifi.phy_rate_mbps": ("Wi-Fi transmit PHY rate (Mbit/s)", "Wi-Fi 发送物理速率"),
    "wifi.rx_rate_mbps": ("Wi-Fi receive PHY rate (Mbit/s)", "Wi-Fi 接收物理速率"),
    "wifi.signal_dbm": ("Wi-Fi signal (dBm)", "Wi-Fi 信号强度"),
    "wifi.band": ("Wi-Fi band", "Wi-Fi 频段"),
    "client.ceiling_down_mbps": ("this device's download ceiling (Mbit/s)", "本设备下载上限"),
    "client.ceiling_up_mbps": ("this device's upload ceiling (Mbit/s)", "本设备上传上限"),
    "host.cpu_load_share": ("CPU load during the test", "测试期间处理器负载"),
    "link.cross_traffic_bytes_s": ("other traffic during the test (bytes/s)",
                                   "测试期间其他流量（字节/秒）"),
}


@dataclass(frozen=True, slots=True)
class ReportInput:
    """What one report shows: the check's values, and when and by what it was written."""

    check: FieldCheck
    generated_at: datetime
    probe_version: str


def bi(en: str, zh: str) -> str:
    """An English label with its Chinese beside it (both escaped)."""
    return f'{escape(en)} <span class="zh" lang="zh-Hans">{escape(zh)}</span>'


def _fmt(value: float | None, unit: str = "Mbit/s") -> str:
    if value is None:
        return "—"
    return f"{value:,.2f} {unit}" if value < 100 else f"{value:,.1f} {unit}"


def _fact_value(fact: Fact) -> str:
    if fact.value is None:
        return '<span class="unknown">unknown 未知</span>'
    if isinstance(fact.value, bool):
        return "yes 是" if fact.value else "no 否"
    if fact.name == "host.cpu_load_share" and isinstance(fact.value, float):
        return f"{fact.value:.0%}"
    return escape(str(fact.value))


def font_css(fonts: Sequence[SubsetFont]) -> str:
    rules = []
    for font in fonts:
        data = base64.b64encode(font.data).decode("ascii")
        rules.append(f"@font-face {{ font-family: '{FAMILY}'; font-weight: {font.weight}; "
                     f"src: url(data:font/otf;base64,{data}) format('opentype'); }}")
    return "\n".join(rules)


def svg_img(svg: str, chart_id: str, alt: str) -> str:
    data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    return (f'<img class="chart" id="{chart_id}" alt="{escape(alt)}" '
            f'src="data:image/svg+xml;base64,{data}">')


ONE_TEST = bi("One test cannot establish a statutory shortfall on its own.",
              "单次测试本身不足以认定法定意义上的未达标。")


def render_page(data: ReportInput, fonts: Sequence[SubsetFont], charts: dict[str, str]) -> str:
    """The whole document; ``charts`` maps chart ids to SVG text."""
    a = data.check.attribution
    subscriber = escape(data.check.contract.subscriber_id)
    test = data.check.verdict
    verdict_en = VERDICT_WORDS[a.isp_verdict]["en"]
    verdict_zh = VERDICT_WORDS[a.isp_verdict]["zh"]
    plan = data.check.contract.plan
    local = data.check.record.started_at.astimezone(data.check.contract.zone)
    body = [
        '<header><div class="brand">broadband-probe · ' + escape(data.probe_version) + "</div>",
        f"<h1>{bi('Broadband speed check', '宽带速率测试报告')}</h1>",
        f'<p class="meta">{bi("Subscriber", "用户")}: <b>{subscriber}'
        f"</b> · {bi('Plan', '套餐')}: <b>{escape(plan.name)}</b> ({escape(plan.id)}) · "
        f"{bi('Measured', '测量时间')}: <b>{local.strftime('%Y-%m-%d %H:%M')}</b> "
        f"({escape(data.check.contract.time_zone)})</p></header>",
        f'<section class="verdict {a.isp_verdict}" id="verdict">'
        f'<div class="label">{bi("Verdict for the ISP", "对运营商的结论")}</div>'
        f'<div class="word">{escape(verdict_en)} <span lang="zh-Hans">{escape(verdict_zh)}'
        f"</span></div>"
        f'<p>{escape(a.summary["en"])}</p><p class="zh" lang="zh-Hans">{escape(a.summary["zh"])}'
        f"</p><p class=\"small\">{bi('This test against the contract', '本次测试对照合同')}: "
        f"<b>{escape(VERDICT_WORDS[test.verdict]['en'])} "
        f"{escape(VERDICT_WORDS[test.verdict]['zh'])}</b> ({escape(test.profile)}"
        f"). {ONE_TEST}"
        "</p></section>",
        _attribution_section(a),
        _contract_section(data),
        _results_section(data),
        '<section class="charts"><h2>' + bi("Throughput and latency", "吞吐量与时延") + "</h2>",
    ]
    figures = (("chart-download", "Download throughput", "下载吞吐量",
                "the rate of every sample interval, from the raw samples",
                "每个采样区间的速率（原始采样）"),
               ("chart-upload", "Upload throughput", "上传吞吐量",
                "counted by the server, every sample interval", "以服务器接收计，每个采样区间"),
               ("chart-latency", "Latency, idle vs loaded", "空闲与负载时延",
                "every round trip, with the median", "每次往返时间及中位数"))
    number = 0
    for chart_id, en, zh, how_en, how_zh in figures:
        if chart_id in charts:
            number += 1
            caption = bi(f"Figure {number}. {en}: {how_en}.", f"图 {number}：{zh}，{how_zh}。")
            body.append(f"<figure>{svg_img(charts[chart_id], chart_id, f'{en} {zh}')}"
                        f"<figcaption>{caption}</figcaption></figure>")
    body.append("</section>")
    body.append(_facts_section(data.check.facts))
    if data.check.offnet is not None:
        body.append(_offnet_section(data.check.offnet))
    body.append(_method_section(data, plan_rate_mbps(plan, "download")))
    css = font_css(fonts) + STYLE
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>Broadband speed check 宽带速率测试报告 · {subscriber}"
            f"</title><style>{css}</style></head><body>" + "\n".join(body) + "</body></html>\n")


def _contract_section(data: ReportInput) -> str:
    plan = data.check.contract.plan
    rows = []
    for name in RATE_NAMES:
        down = plan.download.rate(name)
        up = None if plan.upload is None else plan.upload.rate(name)
        if down is None and up is None:
            continue
        en, zh = RATE_WORDS[name]
        rows.append(f"<tr><th>{bi(en, zh)}</th><td>{_fmt(down)}</td><td>{_fmt(up)}</td></tr>")
    return (f"<section><h2>{bi('Contract', '合同')}</h2><table class=\"grid\"><tr><th></th>"
            f"<th>{bi('download', '下载')}</th><th>{bi('upload', '上传')}</th></tr>"
            + "".join(rows) + "</table>"
            f"<p class=\"small\">{bi('Technology', '接入技术')}: {escape(plan.technology)} · "
            f"{bi('Rule profile', '规则')}: {escape(data.check.verdict.profile)}</p></section>")


def _results_section(data: ReportInput) -> str:
    r = data.check.record
    lat = r.latency
    rows = [
        (bi("Download", "下载"), _fmt(r.download_mbps),
         _fmt(None if r.download is None else r.download.loaded_latency_ms, "ms")),
        (bi("Upload", "上传"), _fmt(r.upload_mbps),
         _fmt(None if r.upload is None else r.upload.loaded_latency_ms, "ms")),
    ]
    table = "".join(f"<tr><th>{a}</th><td class=\"num\">{b}</td><td class=\"num\">{c}</td></tr>"
                    for a, b, c in rows)
    idle = "—" if lat is None else (f"{lat.median_ms:.1f} ms ({bi('min', '最小')} "
                                    f"{lat.min_ms:.1f}, {bi('jitter', '抖动')} "
                                    f"{lat.jitter_ms:.1f})")
    crit = []
    for c in data.check.verdict.criteria:
        mark = {True: '<span class="ok">✓</span>', False: '<span class="bad">✗</span>',
                None: '<span class="unknown">?</span>'}[c.passed]
        crit.append(f"<tr><td>{mark}</td><td>{escape(c.id)}</td><td>{escape(c.direction)}</td>"
                    f"<td>{escape(c.detail)}</td></tr>")
    return (f"<section><h2>{bi('Results', '测量结果')}</h2><table class=\"grid\"><tr><th></th>"
            f"<th>{bi('goodput', '有效速率')}</th><th>{bi('loaded latency', '负载时延')}</th>"
            f"</tr>{table}</table><p>{bi('Idle latency', '空闲时延')}: {idle}</p>"
            f"<h3>{bi('Against each bar of the contract', '逐项对照合同指标')}</h3>"
            f"<table class=\"grid criteria\">{''.join(crit)}</table></section>")


def _attribution_section(a: Attribution) -> str:
    items = []
    for f in a.findings:
        cls = "limits" if f.limits else "info"
        facts = "".join(f"<li><code>{escape(x.name)}</code> = {_fact_value(x)} "
                        f"<span class=\"src\">({escape(x.source)})</span></li>" for x in f.facts)
        fix = ""
        if f.fix:
            fix = (f"<p class=\"fix\"><b>{bi('What to do', '建议')}:</b> {escape(f.fix['en'])}"
                   f"<br><span class=\"zh\" lang=\"zh-Hans\">{escape(f.fix['zh'])}</span></p>")
        items.append(f'<div class="finding {cls}"><div class="rule">{escape(f.rule)}</div>'
                     f"<p>{escape(f.explanation['en'])}</p><p class=\"zh\" lang=\"zh-Hans\">"
                     f"{escape(f.explanation['zh'])}</p>{fix}"
                     f"<ul class=\"cited\">{facts}</ul></div>")
    if not items:
        items.append(f"<p>{bi('No local limit was found.', '未发现本地限制因素。')}</p>")
    return (f"<section id=\"attribution\"><h2>{bi('What limited this test', '影响本次测试的因素')}"
            f"</h2>{''.join(items)}</section>")


def _facts_section(facts: HostFacts) -> str:
    rows = []
    for f in facts.latest():
        en, zh = FACT_WORDS.get(f.name, (f.name, f.name))
        note = f"<div class=\"note\">{escape(f.note)}</div>" if f.note else ""
        rows.append(f"<tr><th>{bi(en, zh)}</th><td>{_fact_value(f)}{note}</td>"
                    f"<td class=\"src\">{escape(f.source)}</td></tr>")
    return (f"<section id=\"environment\"><h2>{bi('Environment', '测试环境')}</h2>"
            f"<table class=\"grid facts\"><tr><th>{bi('fact', '项目')}</th>"
            f"<th>{bi('value', '值')}</th><th>{bi('source', '来源')}</th></tr>"
            + "".join(rows) + "</table></section>")


def _offnet_section(offnet: tuple[Measurement, TestVerdict]) -> str:
    record, verdict = offnet
    return (f"<section><h2>{bi('Off-net server', '网外服务器')}</h2><p>"
            f"{escape(record.server)}: {bi('download', '下载')} {_fmt(record.download_mbps)}, "
            f"{bi('upload', '上传')} {_fmt(record.upload_mbps)} — "
            f"<b>{escape(VERDICT_WORDS[verdict.verdict]['en'])} "
            f"{escape(VERDICT_WORDS[verdict.verdict]['zh'])}</b></p></section>")


def _method_section(data: ReportInput, _plan_down: float | None) -> str:
    r = data.check.record
    n_down = 0 if r.download is None else len(r.download.samples)
    n_up = 0 if r.upload is None else len(r.upload.samples)
    return f"""<section class="method"><h2>{bi('How this was measured', '测量方法')}</h2>
<ul>
<li>{bi('Rates are goodput: application payload bits per second over the steady-state window '
        '(TCP slow start discarded), in Mbit/s = 10^6 bit/s.',
        '速率为有效载荷速率（goodput）：在稳态窗口内（剔除 TCP 慢启动阶段）'
        '每秒传输的应用层数据位数，'
        '单位 Mbit/s = 10^6 bit/s。')}</li>
<li>{bi(f'{r.streams} parallel TCP streams per direction for {r.duration_s:g} s; bytes sampled '
        f'at least every 100 ms ({n_down} download and {n_up} upload samples). Upload is '
        'counted by the server.',
        f'每个方向 {r.streams} 条并行 TCP 连接，持续 {r.duration_s:g} 秒；至少每 100 毫秒采样一次'
        f'（下载 {n_down} 个、上传 {n_up} 个采样）。上传字节数以服务器接收为准。')}</li>
<li>{bi('Overhead: a full IPv4 TCP segment carries 1448 payload bytes in a 1514-byte Ethernet '
        'frame (1538 bytes on the wire with preamble, FCS and gap), so a line rate R carries at '
        'most R x 1448/1538 = 94.1 % of goodput (a 100 Mbit/s port: at most 94.1 Mbit/s). A tc '
        'shaper counts the 1514-byte frame, so a lab link shaped at R carries R x 1448/1514 '
        '= 95.6 %.',
        '开销：一个完整的 IPv4 TCP 报文段在 1514 字节的以太网帧中承载 1448 字节数据'
        '（线路上含前导码、'
        '校验和帧间隔为 1538 字节），因此线路速率 R 最多承载 R × 1448/1538 = 94.1% 的有效数据；'
        '百兆网口最多 94.1 Mbit/s。tc 整形器按 1514 字节帧计费，实验室中整形为 R 的链路承载 '
        'R × 1448/1514 = 95.6%。')}</li>
<li>{bi('Latency: median of idle round trips on a warm connection; loaded latency: median of '
        'round trips on a separate connection while each transfer ran.',
        '时延：空闲状态下已建立连接上往返时间的中位数；负载时延：传输进行时在另一连接上测得的往返时间中位数。')}</li>
<li>{bi('Environment facts name their source; "unknown" means the source was not available, '
        'never a guess.', '环境信息均注明来源；“未知”表示无法获取，绝非猜测。')}</li>
</ul>
<p class="small">{bi('Record', '记录')} <code>{escape(r.id)}</code> · {bi('server', '服务器')}
<code>{escape(r.server)}</code> · {bi('report generated', '报告生成于')}
{escape(data.generated_at.isoformat(timespec='seconds'))}</p></section>"""


STYLE = f"""
@page {{ size: A4; margin: 14mm 13mm 16mm 13mm;
  @bottom-right {{ content: "page " counter(page) " / " counter(pages); font-size: 8pt;
                   color: #7b8794; font-family: '{FAMILY}'; }} }}
* {{ box-sizing: border-box; }}
body {{ font-family: '{FAMILY}', sans-serif; color: #1f2933; font-size: 10pt;
       line-height: 1.45; max-width: 190mm; margin: 0 auto; padding: 6mm 0; }}
h1 {{ font-size: 19pt; margin: 0 0 2mm; font-weight: 700; }}
h2 {{ font-size: 12.5pt; margin: 7mm 0 2mm; padding-bottom: 1mm;
     border-bottom: 1.5px solid #d9dee3; font-weight: 700; }}
h3 {{ font-size: 10.5pt; margin: 4mm 0 1mm; }}
.brand {{ color: #7b8794; font-size: 8pt; letter-spacing: .04em; text-transform: uppercase; }}
.meta {{ color: #3e4c59; margin: 0; }}
.zh {{ color: #52606d; }}
.small {{ font-size: 8.5pt; color: #52606d; }}
.verdict {{ margin: 5mm 0; padding: 4mm 5mm; border-radius: 3mm; border: 2px solid; }}
.verdict .label {{ font-size: 9pt; text-transform: uppercase; letter-spacing: .05em; }}
.verdict .word {{ font-size: 22pt; font-weight: 700; margin: 1mm 0 2mm; }}
.verdict p {{ margin: 1mm 0; }}
.verdict.pass {{ background: #eafaf1; border-color: #1e8449; }}
.verdict.pass .word {{ color: #1e8449; }}
.verdict.shortfall {{ background: #fdedec; border-color: #c0392b; }}
.verdict.shortfall .word {{ color: #c0392b; }}
.verdict.inconclusive {{ background: #fef5e7; border-color: #d68910; }}
.verdict.inconclusive .word {{ color: #b9770e; }}
table.grid {{ border-collapse: collapse; width: 100%; margin: 1mm 0; }}
table.grid th, table.grid td {{ border-bottom: 1px solid #e4e7eb; padding: 1.2mm 2mm;
  text-align: left; vertical-align: top; }}
table.grid th {{ font-weight: 700; }}
td.num {{ font-variant-numeric: tabular-nums; }}
table.facts td.src, .src {{ color: #7b8794; font-size: 8pt; word-break: break-all; }}
.note {{ color: #7b8794; font-size: 8pt; }}
.unknown {{ color: #9aa5b1; font-style: italic; }}
.ok {{ color: #1e8449; font-weight: 700; }}
.bad {{ color: #c0392b; font-weight: 700; }}
.finding {{ border-left: 4px solid #9aa5b1; padding: 1mm 0 1mm 4mm; margin: 3mm 0;
  page-break-inside: avoid; }}
.finding.limits {{ border-left-color: #d68910; }}
.finding .rule {{ font-size: 8pt; color: #7b8794; text-transform: uppercase;
  letter-spacing: .05em; }}
.finding p {{ margin: 1mm 0; }}
.fix {{ background: #f5f7fa; padding: 1.5mm 2.5mm; border-radius: 1.5mm; }}
ul.cited {{ margin: 1mm 0; padding-left: 5mm; font-size: 8.5pt; }}
figure {{ margin: 2mm 0 4mm; page-break-inside: avoid; }}
img.chart {{ width: 100%; height: auto; }}
figcaption {{ font-size: 8pt; color: #52606d; margin-top: 1mm; }}
.method li {{ margin-bottom: 1.5mm; }}
code {{ font-size: 8.5pt; }}
"""
