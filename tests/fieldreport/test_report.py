"""The field report renders: HTML (screenshot with headless Chromium) and PDF (pages turned
into PNG with pdftoppm, text read with pdftotext) carry the verdict, both throughput charts,
the Chinese labels and the embedded face, from injected check values (no network)."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from probe.compliance.attribution import FieldCheck, attribute
from probe.compliance.check import check_measurement
from probe.environment import LINK_DUPLEX, LINK_KIND, LINK_SPEED_MBPS, Fact, HostFacts
from probe.errors import ConfigError
from probe.fieldreport import render
from probe.fieldreport.page import ReportInput
from tests.compliance.builders import contract
from tests.store.builders import make_measurement

pytest.importorskip("weasyprint")
pytestmark = pytest.mark.slow

# 300/20: the record's 93.1 down misses its bar (explained by the 100 Mbit/s port), its
# 21.3 up clears it, so the ISP's verdict is inconclusive.
CN = contract("cn-miit", {"maximum_mbps": 300}, {"maximum_mbps": 20},
              {"rate_factor": 0.9, "required_share": 0.9, "min_measurements": 10},
              tz="Asia/Shanghai", subscriber="CN-GD-000001")
FACTS = HostFacts((Fact(LINK_KIND, "ethernet", "/sys/class/net/eno1/type = 1"),
                   Fact(LINK_SPEED_MBPS, 100, "/sys/class/net/eno1/speed"),
                   Fact(LINK_DUPLEX, "full", "/sys/class/net/eno1/duplex")))


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    record = make_measurement(3)  # 93.1 down / 21.3 up with 100 raw samples each way
    verdict = check_measurement(CN, record)
    check = FieldCheck(CN, FACTS, record, verdict, attribute(CN.plan, verdict, record, FACTS))
    data = ReportInput(check, datetime(2026, 3, 1, 13, 0, tzinfo=UTC), "probe test")
    return render.write_report(data, tmp_path_factory.mktemp("report"))


class TestHtml:
    def test_verdict_attribution_and_chinese_labels(self, report: dict[str, Path]) -> None:
        page = report["html"].read_text(encoding="utf-8")
        assert 'class="verdict inconclusive"' in page
        assert "INCONCLUSIVE" in page
        assert "无法判定" in page
        assert "Limited by this device&#x27;s network port" in page
        for label in ("宽带速率测试报告", "下载吞吐量", "上传吞吐量", "测试环境", "测量方法",
                      "签约速率"):
            assert label in page, label

    def test_both_throughput_charts_and_latency_chart(self, report: dict[str, Path]) -> None:
        page = report["html"].read_text(encoding="utf-8")
        for chart in ("chart-download", "chart-upload", "chart-latency"):
            assert f'id="{chart}"' in page
        assert len(re.findall(r'src="data:image/svg\+xml;base64,', page)) == 3

    def test_self_contained(self, report: dict[str, Path]) -> None:
        page = report["html"].read_text(encoding="utf-8")
        assert "@font-face" in page
        assert "data:font/otf;base64," in page
        # Nothing is fetched from anywhere: every src/href is inline.
        assert re.findall(r'(?:src|href)="(?!data:)', page) == []
        assert len(page) < 1_500_000

    @pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian chromium not installed")
    def test_chromium_screenshot(self, report: dict[str, Path], tmp_path: Path) -> None:
        from PIL import Image

        shot = tmp_path / "html.png"
        with tempfile.TemporaryDirectory() as profile:
            subprocess.run(
                ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
                 f"--screenshot={shot}", "--window-size=1280,2000",
                 report["html"].as_uri()], capture_output=True, timeout=120, check=False)
        assert shot.exists()
        image = Image.open(shot).convert("RGB")
        colors = image.getcolors(maxcolors=1 << 20) or []
        # The verdict banner's amber and the charts' blue are drawn, not a blank page.
        assert any(count > 100 for count, c in colors if c == (254, 245, 231))
        assert sum(count for count, c in colors if _near(c, (47, 111, 176))) > 200


def _near(color: tuple[int, int, int], target: tuple[int, int, int], tol: int = 40) -> bool:
    return all(abs(a - b) <= tol for a, b in zip(color, target, strict=True))


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")
class TestPdf:
    def test_text_has_verdict_charts_and_chinese(self, report: dict[str, Path]) -> None:
        text = subprocess.run(["pdftotext", "-layout", str(report["pdf"]), "-"],
                              capture_output=True, text=True, check=True).stdout
        assert "INCONCLUSIVE" in text
        assert "无法判定" in text
        assert "Figure 1. Download throughput" in text
        assert "Figure 2. Upload throughput" in text
        assert "宽带速率测试报告" in text

    def test_font_is_embedded(self, report: dict[str, Path]) -> None:
        fonts = subprocess.run(["pdffonts", str(report["pdf"])], capture_output=True, text=True,
                               check=True).stdout
        assert "ProbeReportSans" in fonts
        assert all(line.split()[-4] == "yes" for line in fonts.splitlines()[2:] if line.strip())

    def test_pages_render(self, report: dict[str, Path], tmp_path: Path) -> None:
        from PIL import Image

        subprocess.run(["pdftoppm", "-r", "80", "-png", str(report["pdf"]),
                        str(tmp_path / "page")], check=True)
        pages = sorted(tmp_path.glob("page-*.png"))
        assert 2 <= len(pages) <= 4
        shaded = 0
        for page in pages:
            colors = Image.open(page).convert("RGB").getcolors(maxcolors=1 << 20) or []
            shaded += sum(count for count, c in colors if _near(c, (232, 240, 248), 4))
        # Both throughput charts shade their steady-state window (~5 % of a page each).
        assert shaded > 2 * 5000


def test_missing_extra_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    real = render.importlib.import_module

    def fake(name: str) -> object:
        if name == "weasyprint":
            raise ImportError(name)
        return real(name)

    monkeypatch.setattr(render.importlib, "import_module", fake)
    with pytest.raises(ConfigError, match=r"pip install 'broadband-probe\[report\]'"):
        render.require_report_extra()
