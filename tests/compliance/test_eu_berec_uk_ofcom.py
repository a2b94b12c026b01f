"""eu-berec availability shares and minimum; uk-ofcom cure period and right to exit."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.compliance.builders import Row, at, by_id, contract, evaluate

EU_DOWN = {"maximum_mbps": 100, "normally_available_mbps": 80, "minimum_mbps": 50}
EU_DAY = contract("eu-berec", EU_DOWN, None, tz="Europe/Vienna")
EU_PEAK = contract("eu-berec", EU_DOWN, None,
                   {"period": "peak", "peak_hours": [19, 23], "min_measurements": 5},
                   tz="Europe/Vienna")


def _hourly(day: str, hours: list[int], rates: list[float], tz: str) -> list[Row]:
    return [(at(f"{day} {h:02d}:00", tz), r, None, 10.0, False)
            for h, r in zip(hours, rates, strict=True)]


class TestEuBerec:
    """Normally available with its availability share, and the minimum."""

    @pytest.mark.parametrize(("below", "verdict"), [(0, "pass"), (1, "pass"), (2, "shortfall")])
    def test_ninety_five_percent_of_the_day(self, below, verdict) -> None:
        rates = [80.0] * (20 - below) + [79.99] * below  # 19 of 20 = exactly 95 %
        rows = _hourly("2026-04-01", list(range(20)), rates, "Europe/Vienna")
        result = evaluate(EU_DAY, rows)
        assert result.verdict == verdict
        assert by_id(result)[("minimum", "download")] is True

    def test_too_few_tests(self) -> None:
        rows = _hourly("2026-04-01", list(range(19)), [90.0] * 19, "Europe/Vienna")
        assert evaluate(EU_DAY, rows).verdict == "inconclusive"

    def test_one_undercut_of_the_minimum_is_a_shortfall(self) -> None:
        rows = _hourly("2026-04-01", list(range(20)), [90.0] * 19 + [49.99], "Europe/Vienna")
        result = evaluate(EU_DAY, rows)
        assert by_id(result) == {("normal-day", "download"): True,
                                 ("minimum", "download"): False}
        rows[-1] = (rows[-1][0], 50.0, None, 10.0, False)
        assert evaluate(EU_DAY, rows).verdict == "pass"

    def test_peak_and_off_peak(self) -> None:
        peak = _hourly("2026-04-01", [19, 20, 21, 22, 19], [80.0] * 4 + [70.0], "Europe/Vienna")
        peak[-1] = (peak[-1][0] + timedelta(minutes=30), 70.0, None, 10.0, False)
        peak += _hourly("2026-04-02", [19, 20, 21, 22, 22], [80.0] * 5, "Europe/Vienna")
        off = _hourly("2026-04-01", [8, 9, 10, 23, 18], [80.0] * 5, "Europe/Vienna")
        result = evaluate(EU_PEAK, peak + off)  # peak 9 of 10 (90 %), off-peak 5 of 5
        assert result.verdict == "pass"
        off[3] = (off[3][0], 79.0, None, 10.0, False)  # 23:00 is off-peak: needs 100 %
        result = evaluate(EU_PEAK, peak + off)
        assert by_id(result)[("normal-off-peak", "download")] is False
        assert by_id(result)[("normal-peak", "download")] is True


UK = contract("uk-ofcom", {"minimum_mbps": 40, "advertised_mbps": 80}, None,
              tz="Europe/London")
T0 = at("2026-03-01 20:00", "Europe/London")


def _uk(points: list[tuple[timedelta, float]]) -> list[Row]:
    return [(T0 + dt, rate, None, 10.0, False) for dt, rate in points]


DAY = timedelta(days=1)
SEC = timedelta(seconds=1)


class TestUkOfcom:
    """Below the guarantee starts 30 days to fix it; the first test after decides."""

    @pytest.mark.parametrize(("points", "verdict"), [
        ([(0 * DAY, 40.0), (40 * DAY, 40.0)], "pass"),  # at the guarantee is not below
        ([(0 * DAY, 39.9), (10 * DAY, 45.0)], "inconclusive"),  # cure period still running
        ([(0 * DAY, 39.9), (30 * DAY - SEC, 39.0)], "inconclusive"),  # still inside 30 days
        ([(0 * DAY, 39.9), (30 * DAY, 39.0)], "shortfall"),  # exactly 30 days later: exit
        ([(0 * DAY, 39.9), (30 * DAY, 40.0)], "pass"),  # fixed in time
        ([(0 * DAY, 39.9), (5 * DAY, 50.0), (31 * DAY, 39.0), (32 * DAY, 50.0)], "shortfall"),
        ([(0 * DAY, 39.9), (31 * DAY, 41.0), (40 * DAY, 39.0), (71 * DAY, 39.0)], "shortfall"),
        ([(0 * DAY, 39.9), (31 * DAY, 41.0), (40 * DAY, 39.0), (69 * DAY, 39.0)], "inconclusive"),
    ])
    def test_cure_period(self, points, verdict) -> None:
        assert evaluate(UK, _uk(points)).verdict == verdict

    def test_exit_detail_has_dates_and_rates(self) -> None:
        result = evaluate(UK, _uk([(0 * DAY, 32.0), (30 * DAY, 31.0)]))
        assert result.reasons == (
            "download: below minimum guaranteed 40 Mbit/s at 2026-03-01 20:00 GMT (32 Mbit/s) "
            "and still below after the 30-day cure period: 2026-03-31 21:00 BST 31 Mbit/s; "
            "right to exit",)

    def test_upload_is_not_judged(self) -> None:
        result = evaluate(UK, [(T0, 50.0, 0.1, 10.0, False)])
        assert result.verdict == "pass"
        assert {c.direction for c in result.criteria} == {"download"}
