"""The small inconsistencies a new user hit (issue 14), each pinned by a test."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from probe.compliance.counting import share_criteria
from tests.support import ROOT, run_cli, serve_process

CONTRACT = ROOT / "contracts" / "us-tier-300.toml"
TWO = """\
[plan]
id = "p"
name = "P"
technology = "FTTH"
profile = "custom"
[plan.download]
minimum_mbps = 50
[[contract]]
subscriber_id = "A"
time_zone = "UTC"
[[contract]]
subscriber_id = "B"
time_zone = "UTC"
"""


def test_contracts_alone_shows_its_own_help() -> None:
    proc = run_cli(["contracts"])
    assert proc.returncode == 2
    assert "validate" in proc.stderr
    assert "Measure a broadband line" not in proc.stderr  # not the top-level help


def test_pick_one_lists_the_ids(tmp_path: Path) -> None:
    contracts = tmp_path / "two.toml"
    contracts.write_text(TWO)
    proc = run_cli(["check", "--contract", str(contracts), "--server", "http://127.0.0.1:9"])
    assert proc.returncode == 1
    assert proc.stderr.strip() == (f"probe: error: {contracts}: has 2 contracts; pick one with "
                                   "--subscriber (has: A, B)")


def test_a_refused_token_exits_3_like_an_unreachable_server(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("right-token\n")
    wrong = tmp_path / "wrong"
    wrong.write_text("wrong-token\n")
    with serve_process("--token-file", str(token)) as url:
        proc = run_cli(["measure", "--server", url, "--duration", "1", "--no-store",
                        "--token-file", str(wrong)])
    assert proc.returncode == 3, proc.stderr
    assert "without a valid token (401)" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_missing_file_exits_2_everywhere(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    runs = {
        "validate": ["contracts", "validate", str(missing)],
        "evaluate": ["evaluate", "--contract", str(missing), "--measurements", str(missing)],
        "check": ["check", "--contract", str(missing), "--server", "http://127.0.0.1:9"],
        "demo": ["demo", "--contract", str(missing)],
    }
    for name, args in runs.items():
        proc = run_cli(args)
        assert proc.returncode == 2, (name, proc.stderr)
        assert proc.stderr.startswith("probe: error:"), name
        assert "missing.toml" in proc.stderr, name


def test_plurals() -> None:
    (one,) = share_criteria(id="x", direction="download", label="min", tests=np.array([0]),
                            reached=np.array([0]), share=Fraction(1),
                            min_tests=1)
    assert one.detail == "min reached in 0 of 0 tests; needs at least 1 valid test"
    (many,) = share_criteria(id="x", direction="download", label="min", tests=np.array([1]),
                             reached=np.array([1]), share=Fraction(1),
                             min_tests=2)
    assert many.detail.endswith("needs at least 2 valid tests")


def test_one_valid_measurement_is_singular(tmp_path: Path) -> None:
    m = tmp_path / "m.jsonl"
    m.write_text('{"id": "a", "started_at": "2026-03-02T23:00:00Z", "download_mbps": 290.0, '
                 '"upload_mbps": 19.0, "latency_ms": 20.0}\n')
    proc = run_cli(["evaluate", "--contract", str(CONTRACT), "--measurements", str(m)])
    assert "(us-fcc, plan us-cable-300, 1 valid measurement)" in proc.stdout
    assert "input: 1 row read" in proc.stdout
