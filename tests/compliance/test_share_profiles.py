"""cn-miit, us-fcc and custom: the share of tests at or above a bar, at every boundary."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.compliance.builders import Row, at, by_id, contract, evaluate

CN = contract("cn-miit", {"maximum_mbps": 300}, {"maximum_mbps": 30}, tz="Asia/Shanghai")


def _series(down: list[float], up: list[float] | None = None, *, tz: str = "Asia/Shanghai",
            first: str = "2026-05-01 20:00", step_h: float = 1, latency=None) -> list[Row]:
    start = at(first, tz)
    up = up if up is not None else [30.0] * len(down)
    lat = latency or [10.0] * len(down)
    return [(start + timedelta(hours=step_h * i), d, u, lat[i], False)
            for i, (d, u) in enumerate(zip(down, up, strict=True))]


class TestCnMiit:
    """达标 when rate >= k × theoretical; 达标率 against the required share; min tests."""

    @pytest.mark.parametrize(("rates", "verdict", "detail"), [
        ([270.0] * 10, "pass", "reached in 10 of 10 tests (100 %), needs 90 %"),  # exactly k × 300
        ([270.0] * 9 + [269.99], "pass", "reached in 9 of 10 tests (90 %), needs 90 %"),
        ([270.0] * 8 + [269.99] * 2, "shortfall", "reached in 8 of 10 tests (80 %), needs 90 %"),
        ([300.0] * 9, "inconclusive", "reached in 9 of 9 tests; needs at least 10 valid tests"),
    ])
    def test_dabiao_rate(self, rates, verdict, detail) -> None:
        result = evaluate(CN, _series(rates))
        assert result.verdict == verdict
        down = next(c for c in result.criteria if c.direction == "download")
        assert down.detail == f"90 % of maximum 300 Mbit/s (270 Mbit/s) {detail}"

    def test_upload_judged_separately(self) -> None:
        result = evaluate(CN, _series([300.0] * 10, [27.0] * 8 + [26.9] * 2))
        assert by_id(result) == {("dabiao-rate", "download"): True,
                                 ("dabiao-rate", "upload"): False}

    def test_k_and_share_are_parameters(self) -> None:
        con = contract("cn-miit", {"maximum_mbps": 100}, None,
                       {"rate_factor": 0.7, "required_share": 0.8, "min_measurements": 5},
                       tz="Asia/Shanghai")
        assert evaluate(con, _series([70.0] * 4 + [69.0], [1.0] * 5)).verdict == "pass"
        assert evaluate(con, _series([70.0] * 3 + [69.0] * 2, [1.0] * 5)).verdict == "shortfall"

    def test_bar_is_the_exact_decimal_product(self) -> None:
        # In floats 0.9 * 42 is 37.800000000000004; a measured 37.8 must reach the bar.
        assert 0.9 * 42 > 37.8
        con = contract("cn-miit", {"maximum_mbps": 42}, None, {"min_measurements": 1},
                       tz="Asia/Shanghai")
        assert evaluate(con, _series([37.8], [1.0])).verdict == "pass"


US = contract("us-fcc", {"advertised_mbps": 10}, {"advertised_mbps": 1},
              {"min_measurements": 5, "latency_limit_ms": 100}, tz="America/New_York")


def _us(times: list[datetime], down: list[float], up: list[float] | None = None,
        latency: list[float] | None = None) -> list[Row]:
    up = up or [1.0] * len(times)
    latency = latency or [20.0] * len(times)
    return [(t, d, u, lat, False) for t, d, u, lat in zip(times, down, up, latency, strict=True)]


def _evening(day: str, n: int = 5) -> list[datetime]:
    return [at(f"{day} {18 + i}:00", "America/New_York") for i in range(n)]


class TestUsFcc:
    """80 % of tests in 18:00-24:00 local reach 80 % of the tier; latency 95 % <= limit."""

    @pytest.mark.parametrize(("down", "verdict"), [
        ([8.0] * 5, "pass"),  # exactly 80 % of 10 Mbit/s in every test
        ([8.0] * 4 + [7.99], "pass"),  # 4 of 5 = exactly 80 %
        ([8.0] * 3 + [7.99] * 2, "shortfall"),
    ])
    def test_eighty_eighty(self, down, verdict) -> None:
        assert evaluate(US, _us(_evening("2026-06-01"), down)).verdict == verdict

    def test_upload_at_eighty_percent_of_one(self) -> None:
        result = evaluate(US, _us(_evening("2026-06-01"), [10.0] * 5, [0.8] * 4 + [0.79]))
        assert result.verdict == "pass"
        result = evaluate(US, _us(_evening("2026-06-01"), [10.0] * 5, [0.8] * 3 + [0.79] * 2))
        assert by_id(result)[("80/80", "upload")] is False

    @pytest.mark.parametrize(("local", "counted"), [
        ("2026-06-01 17:59:59", False), ("2026-06-01 18:00:00", True),
        ("2026-06-01 23:59:59", True), ("2026-06-02 00:00:00", False),
    ])
    def test_testing_hours_edges(self, local, counted) -> None:
        times = [*_evening("2026-06-03", 4), at(local, "America/New_York")]
        result = evaluate(US, _us(times, [10.0] * 4 + [1.0]))
        down = next(c for c in result.criteria if c.id == "80/80")
        if counted:
            assert down.detail.endswith("reached in 4 of 5 tests in 18:00–24:00 local (80 %), "
                                        "needs 80 %")
        else:
            assert result.verdict == "inconclusive"  # only 4 tests count, 5 needed

    @pytest.mark.parametrize(("utc", "counted"), [
        ("2026-03-07T22:30:00+00:00", False),  # 17:30 EST the day before DST starts
        ("2026-03-09T22:30:00+00:00", True),   # 18:30 EDT the day after
        ("2026-10-31T22:30:00+00:00", True),   # 18:30 EDT before DST ends
        ("2026-11-02T22:30:00+00:00", False),  # 17:30 EST after
    ])
    def test_dst_in_new_york(self, utc, counted) -> None:
        times = [*_evening("2026-06-03", 4), datetime.fromisoformat(utc)]
        result = evaluate(US, _us(times, [10.0] * 5))
        assert result.verdict == ("pass" if counted else "inconclusive")

    @pytest.mark.parametrize(("latencies", "passed"), [
        ([100.0] * 20, True),  # at the limit
        ([50.0] * 19 + [100.01], True),  # 19 of 20 = 95 %
        ([50.0] * 18 + [100.01] * 2, False),
    ])
    def test_latency_clause(self, latencies, passed) -> None:
        times = [t for day in range(1, 5) for t in _evening(f"2026-06-0{day}")]
        result = evaluate(US, _us(times, [10.0] * 20, latency=latencies))
        assert by_id(result)[("latency-95", "latency")] is passed

    def test_latency_not_judged_unless_configured(self) -> None:
        con = contract("us-fcc", {"advertised_mbps": 10}, None, {"min_measurements": 5},
                       tz="America/New_York")
        result = evaluate(con, _us(_evening("2026-06-01"), [10.0] * 5, latency=[900.0] * 5))
        assert result.verdict == "pass"
        assert [c.id for c in result.criteria] == ["80/80"]


class TestCustom:
    """User thresholds: rate, factor, share, hours and latency, with the same exact counting."""

    def test_business_hours_sla(self) -> None:
        con = contract("custom", {"minimum_mbps": 400}, None,
                       {"required_share": 0.95, "hours": [8, 18], "min_measurements": 20,
                        "latency_limit_ms": 30}, tz="Europe/Berlin")
        times = [at(f"2026-04-0{d} {h:02d}:00") for d in range(1, 3) for h in range(8, 18)]
        night = [at("2026-04-01 03:00")]  # outside the hours: its 1 Mbit/s does not count
        rows = [(t, 400.0 if i else 399.0, None, 30.0, False) for i, t in enumerate(times)]
        rows += [(t, 1.0, None, 500.0, False) for t in night]
        result = evaluate(con, rows)
        assert result.verdict == "pass"
        assert by_id(result) == {("sla", "download"): True, ("sla-latency", "latency"): True}
        rows[1] = (rows[1][0], 399.0, None, 30.0, False)
        assert evaluate(con, rows).verdict == "shortfall"

    @pytest.mark.parametrize(("local", "counted"), [
        ("2026-04-01 07:59:59", False), ("2026-04-01 08:00:00", True),
        ("2026-04-01 17:59:59", True), ("2026-04-01 18:00:00", False),
    ])
    def test_hour_window_is_half_open(self, local, counted) -> None:
        con = contract("custom", {"minimum_mbps": 400}, None,
                       {"required_share": 1.0, "hours": [8, 18]}, tz="Europe/Berlin")
        rows = [(at("2026-04-01 12:00"), 400.0, None, 10.0, False),
                (at(local), 1.0, None, 10.0, False)]
        assert evaluate(con, rows).verdict == ("shortfall" if counted else "pass")
