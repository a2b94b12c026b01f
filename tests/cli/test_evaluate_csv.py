"""``probe evaluate`` reads CSV as spreadsheets save it (fixture files in tests/fixtures/csv).

A UTF-8 byte-order mark, ``;`` or tab as separator, decimal commas and header names in another
case all read as the plain comma file does; a wrong header is refused showing what was read.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from probe.cli.measurement_files import sniff_delimiter
from tests.support import run_cli

ROOT = Path(__file__).resolve().parent.parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "csv"
CONTRACT = ROOT / "contracts" / "us-tier-300.toml"


def evaluate(path: Path) -> dict:
    proc = run_cli(["evaluate", "--contract", str(CONTRACT), "--measurements", str(path),
                    "--json"], cwd=str(ROOT))
    assert proc.returncode == 5, proc.stderr  # 3 tests: too few for us-fcc's 42
    return json.loads(proc.stdout)


class TestSpreadsheetCsv:
    @pytest.mark.parametrize("name", ["excel-utf8-bom.csv", "excel-de-semicolon.csv",
                                      "tab-separated.csv"])
    def test_reads_like_the_plain_file(self, name: str, tmp_path: Path) -> None:
        plain = tmp_path / "plain.csv"
        plain.write_text("started_at,download_mbps,upload_mbps,latency_ms\n"
                         "2026-03-02T23:00:00Z,290.5,19.25,20\n"
                         "2026-03-02T23:10:00Z,288,19,21.5\n"
                         "2026-03-02T23:20:00Z,150,19,22\n")
        expected, got = evaluate(plain), evaluate(FIXTURES / name)
        assert got["criteria"] == expected["criteria"]
        assert "reached in 2 of 3 tests" in got["criteria"][0]["detail"]
        assert got["valid_measurements"] == 3
        assert got["input"]["ids_checked"] is (name == "tab-separated.csv")

    def test_the_fixtures_are_what_they_say(self) -> None:
        assert (FIXTURES / "excel-utf8-bom.csv").read_bytes().startswith(b"\xef\xbb\xbf")
        assert b"\r\n" in (FIXTURES / "excel-de-semicolon.csv").read_bytes()
        assert b"290,5" in (FIXTURES / "excel-de-semicolon.csv").read_bytes()

    def test_wrong_header_shows_what_was_read(self) -> None:
        path = FIXTURES / "wrong-header-semicolon.csv"
        proc = run_cli(["evaluate", "--contract", str(CONTRACT), "--measurements", str(path)],
                       cwd=str(ROOT))
        assert proc.returncode == 1
        assert "Traceback" not in proc.stderr
        assert proc.stderr.strip() == (
            f"probe: error: {path}:1: CSV lacks the column(s) started_at, download_mbps; the "
            "header read was 'start;download;upload_mbps;latency_ms' (delimiter ';'); needs "
            "started_at,download_mbps,upload_mbps,latency_ms (optional: id, subscriber_id, "
            "flags)")

    @pytest.mark.parametrize(("header", "delimiter"), [
        ("a,b,c", ","), ("a;b;c", ";"), ("a\tb\tc", "\t"), ("a", ","),
        ('"x,y";b;c', ";"),
    ])
    def test_sniffing(self, header: str, delimiter: str) -> None:
        assert sniff_delimiter(header) == delimiter
