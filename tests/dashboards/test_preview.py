"""The InfluxQL dashboards drawn with live data (dashboards.preview) and screenshot in headless
Chromium: every panel has data, and the page renders to a picture (looked at by hand too)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from dashboards.preview import main as preview_main
from tests.dashboards.conftest import DB, FLEET
from tests.dashboards.queries import ROOT
from tests.servicekit import InfluxDB1

pytestmark = pytest.mark.services

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# The drill-down twice: a campaign line (de-bnetza) and an under-delivering line with alerts;
# between them every panel has data.
VARIABLES = {"fleet-compliance": [[]], "subscriber": [["subscriber=DE-BE-0"],
                                                      ["subscriber=AT-W--2"]],
             "probe-health": [[]]}


def screenshot(page: Path, png: Path, tmp: Path) -> None:
    assert CHROMIUM is not None
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp / 'chromium'}", f"--screenshot={png}",
         "--window-size=1280,1400", page.as_uri()],
        check=True, capture_output=True, timeout=120)


@pytest.mark.parametrize("name", sorted(VARIABLES))
def test_preview_has_data_in_every_panel_and_renders(
    influx: InfluxDB1, tmp_path: Path, name: str
) -> None:
    empty: list[set[str]] = []
    for k, variables in enumerate(VARIABLES[name]):
        out = tmp_path / f"{name}-{k}.html"
        args = ["--url", influx.url, "--db", DB, "--dashboard", name,
                "--from", FLEET.start.isoformat(), "--to", FLEET.end.isoformat(),
                "--out", str(out), *[a for v in variables for a in ("--var", v)]]
        assert preview_main(args) == 0
        page = out.read_text(encoding="utf-8")
        sections = page.split("<section")[1:]
        assert len(sections) == len(json.loads(
            (ROOT / "influxql" / f"{name}.json").read_text(encoding="utf-8"))["panels"])
        empty.append({re.findall(r"<h2>(.*?)</h2>", s)[0] for s in sections if "no data" in s})
    assert set.intersection(*empty) == set()
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (.ci/setup installs it)")
    png = tmp_path / f"{name}.png"
    screenshot(tmp_path / f"{name}-0.html", png, tmp_path)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 20_000  # a blank page is a few kB
    keep = Path("/tmp") / "dash-grafana-previews"
    keep.mkdir(exist_ok=True)
    shutil.copy(png, keep / png.name)


def test_preview_reports_a_bad_dashboard_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                              ) -> None:
    code = preview_main(["--url", "http://127.0.0.1:9", "--dashboard", "nope", "--from",
                         "2026-01-01T00:00:00+00:00", "--to", "2026-01-02T00:00:00+00:00",
                         "--out", str(tmp_path / "x.html")])
    assert code == 2
    assert capsys.readouterr().err.startswith("dashboards.preview: error: ")
