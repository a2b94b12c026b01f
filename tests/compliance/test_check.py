"""The per-test check: one measurement against a contract, without pandas or numpy."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime

import pytest

from probe.compliance.check import check_measurement
from probe.errors import ContractError, UsageError
from probe.measurement import Measurement
from tests.compliance.builders import DE_DOWN, DE_UP, contract


def _m(down: float | None, up: float | None, latency: float | None = 10.0,
       when: str = "2026-06-01T20:00:00+00:00", flags: tuple[str, ...] = ()) -> Measurement:
    data = {"id": "m1", "started_at": when, "download_mbps": down, "upload_mbps": up,
            "latency_ms": latency, "flags": list(flags)}
    return Measurement.from_json_dict(data)


DE = contract("de-bnetza", DE_DOWN, DE_UP)


class TestPerTestBars:
    """Each bar of the profile is checked with the measured number beside it."""

    @pytest.mark.parametrize(("down", "up", "verdict", "failed"), [
        (850.0, 35.0, "pass", []),
        (849.9, 35.0, "shortfall", [("b-normal", "download")]),
        (900.0, 34.9, "shortfall", [("b-normal", "upload")]),
        (599.0, 35.0, "shortfall", [("b-normal", "download"), ("c-minimum", "download")]),
        (None, 40.0, "inconclusive", []),
    ])
    def test_de_bnetza(self, down, up, verdict, failed) -> None:
        result = check_measurement(DE, _m(down, up))
        assert result.verdict == verdict
        assert [(c.id, c.direction) for c in result.criteria if c.passed is False] == failed

    def test_detail_reads_as_a_sentence(self) -> None:
        result = check_measurement(DE, _m(849.9, 35.0))
        assert result.criteria[0].detail == "849.9 Mbit/s misses normally available 850 Mbit/s"
        assert result.criteria[1].detail == "849.9 Mbit/s reaches minimum 600 Mbit/s"

    def test_us_fcc_outside_testing_hours_is_noted(self) -> None:
        con = contract("us-fcc", {"advertised_mbps": 10}, None, tz="America/New_York")
        inside = check_measurement(con, _m(8.0, None, when="2026-06-01T22:30:00+00:00"))
        outside = check_measurement(con, _m(8.0, None, when="2026-06-01T21:30:00+00:00"))
        assert inside.verdict == outside.verdict == "pass"
        assert "outside" not in inside.criteria[0].detail
        assert outside.criteria[0].detail.endswith(
            "(measured 17:30 local, outside 18:00–24:00 local: not counted by the window rule)")

    @pytest.mark.parametrize(("utc", "outside"), [
        ("2026-06-01T05:59:59+00:00", True), ("2026-06-01T06:00:00+00:00", False),
        ("2026-06-01T15:59:59+00:00", False), ("2026-06-01T16:00:00+00:00", True),
    ])
    def test_hour_window_edges(self, utc, outside) -> None:
        # Berlin summer time: 06:00 UTC is 08:00 local, 16:00 UTC is 18:00 local.
        con = contract("custom", {"minimum_mbps": 5}, None, {"hours": [8, 18]})
        detail = check_measurement(con, _m(6.0, None, when=utc)).criteria[0].detail
        assert ("outside 08:00–18:00 local" in detail) is outside

    def test_profile_override_and_errors(self) -> None:
        assert check_measurement(DE, _m(900, 40), profile="eu-berec").profile == "eu-berec"
        with pytest.raises(ContractError, match="advertised_mbps: is required by profile us-fcc"):
            check_measurement(DE, _m(900, 40), profile="us-fcc")
        with pytest.raises(UsageError, match="unknown profile"):
            check_measurement(DE, _m(900, 40), profile="xx")


class TestEnvironmentFlags:
    """A flagged test is not evidence of a shortfall, but a pass despite it still counts."""

    def test_flagged_failure_is_inconclusive(self) -> None:
        result = check_measurement(DE, _m(500.0, 35.0, flags=("wifi",)))
        assert result.verdict == "inconclusive"
        assert result.criteria[-1].detail.startswith(
            "flagged as limited by the local environment (wifi)")

    def test_flagged_pass_is_a_pass(self) -> None:
        assert check_measurement(DE, _m(900.0, 40.0, flags=("wifi",))).verdict == "pass"

    def test_unsteady_shortfall_is_inconclusive(self) -> None:
        """An unsteady window (issue #13) is no evidence of a shortfall, like the other flags."""
        result = check_measurement(DE, _m(500.0, 35.0, flags=("unsteady",)))
        assert result.verdict == "inconclusive"
        assert "unsteady" in result.criteria[-1].detail

    def test_before_contract_start(self) -> None:
        con = contract("de-bnetza", DE_DOWN, DE_UP, start=datetime(2026, 7, 1).date())
        assert check_measurement(con, _m(900.0, 40.0)).verdict == "inconclusive"


class TestNoPandasOnRouters:
    """The per-test path imports neither pandas nor numpy."""

    def test_import_and_check_without_pandas(self) -> None:
        code = (
            "import sys\n"
            "from probe.compliance.check import check_measurement\n"
            "from probe.compliance.document import parse_document\n"
            "from probe.measurement import Measurement\n"
            "doc = {'plan': {'name': 'p', 'technology': 'FTTH', 'profile': 'cn-miit',\n"
            "        'download': {'maximum_mbps': 100}},\n"
            "       'contract': {'subscriber_id': 'a', 'time_zone': 'Asia/Shanghai'}}\n"
            "c = parse_document(doc).contracts['a']\n"
            "m = Measurement.from_json_dict({'id': '1', 'started_at': '2026-01-01T00:00:00Z',\n"
            "                                'download_mbps': 95.0})\n"
            "assert check_measurement(c, m).verdict == 'pass'\n"
            "print(sorted({'pandas', 'numpy', 'scipy'} & set(sys.modules)))\n"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True, timeout=60)
        assert out.stdout.strip() == "[]"
