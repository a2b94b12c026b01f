"""Writing a report: subset the face to the page's characters, draw the charts, write
``report.html`` and print it to ``report.pdf``.

The page is rendered once without fonts and charts to learn which characters it uses (the
charts' labels are fixed text plus digits), then for real with the subset face embedded.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from probe.compliance.attribution import plan_rate_mbps
from probe.compliance.check import resolve_profile
from probe.compliance.profiles import PROFILES
from probe.errors import ConfigError
from probe.fieldreport.charts import BAR, PLAN, ChartMaker, Line
from probe.fieldreport.page import ReportInput, render_page

EXTRA_MODULES = ("matplotlib", "weasyprint", "fontTools")
# Every fixed label the charts draw (their numbers are digits, always in the subset).
CHART_TEXT = ("steady-state window 稳态窗口 per interval 每个采样区间 measured 测得 "
              "seconds since the transfer started 传输开始后的秒数 Download 下载 Upload 上传 "
              "throughput 吞吐量 idle 空闲 loaded: download 下载时 loaded: upload 上传时 "
              "median 中位数 round trip 往返时延 Latency, idle vs loaded 空闲与负载时延 "
              "plan rate 签约速率 bar 达标线 ,.")


def require_report_extra() -> None:
    """Raise a one-line ConfigError naming the extra when a report library is missing."""
    missing = []
    for name in EXTRA_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
        except OSError as exc:  # WeasyPrint without Debian's Pango
            raise ConfigError(f"the report needs Pango (Debian libpango-1.0-0): {exc}") from None
    if missing:
        raise ConfigError(f"--report needs {', '.join(missing)}: install the report extra, "
                          "pip install 'broadband-probe[report]'")


def _lines(data: ReportInput, direction: str) -> list[Line]:
    """The plan's headline rate and every per-test bar of the profile for ``direction``."""
    lines = []
    plan = plan_rate_mbps(data.check.contract.plan, direction)
    if plan is not None:
        lines.append(Line(plan, "plan rate 签约速率", PLAN, ":"))
    name, params = resolve_profile(data.check.contract, data.check.verdict.profile)
    for bar in PROFILES[name].thresholds(data.check.contract.plan, params):
        if bar.direction == direction and bar.kind == "rate" and bar.limit != plan:
            lines.append(Line(bar.limit, f"bar 达标线 ({bar.id})", BAR))
    return lines


def write_report(data: ReportInput, directory: Path) -> dict[str, Path]:
    """Write report.html and report.pdf into ``directory``; returns their paths."""
    require_report_extra()
    from probe.fieldreport.fonts import subset_fonts

    draft = render_page(data, [], {})
    fonts = subset_fonts(draft + CHART_TEXT)
    maker = ChartMaker(fonts)
    try:
        charts = {}
        for key, result, title in (("chart-download", data.check.record.download,
                                    "Download throughput 下载吞吐量"),
                                   ("chart-upload", data.check.record.upload,
                                    "Upload throughput 上传吞吐量")):
            if result is not None and result.goodput_mbps is not None:
                charts[key] = maker.throughput(result, title, _lines(data, key[6:]))
        charts["chart-latency"] = maker.latency(data.check.record)
    finally:
        maker.close()
    page = render_page(data, fonts, charts)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        html_path = directory / "report.html"
        html_path.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--report: cannot write into {directory}: {exc.strerror}") from None
    pdf_path = directory / "report.pdf"
    import weasyprint

    weasyprint.HTML(string=page, base_url=str(directory)).write_pdf(str(pdf_path))
    return {"html": html_path, "pdf": pdf_path}
