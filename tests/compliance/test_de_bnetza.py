"""de-bnetza: campaign validity and criteria (a), (b), (c) at and around every boundary.

Plan used throughout: download maximum 1000 (so 90 % = 900), normally available 850, minimum
600; upload 50 (45) / 35 / 15 Mbit/s. ``GOOD`` is a day that passes everything: one test at
950 (reaches 900) and nine at 870 (>= 850, >= 600).
"""

from __future__ import annotations

from datetime import date

import pytest

from tests.compliance.builders import (
    DE_DOWN,
    DE_UP,
    Row,
    at,
    by_id,
    campaign,
    contract,
    day_rows,
    evaluate,
)

DAYS = ("2026-03-02", "2026-03-04", "2026-03-06")
GOOD = [950.0] + [870.0] * 9
UP_GOOD = [46.0] + [40.0] * 9
DE = contract("de-bnetza", DE_DOWN, DE_UP)


def _with(values: dict[int, float], base: list[float] = GOOD) -> list[float]:
    day = list(base)
    for k, v in values.items():
        day[k] = v
    return day


def _run(down: list[list[float]], up: list[list[float]] | None = None, days=DAYS, **kw):
    up = up or [UP_GOOD] * len(days)
    return evaluate(DE, campaign(days, down, up, **kw))


class TestCriterionBNormal:
    """(b): the normally available rate must be reached in at least 90 % of the 30."""

    # below = measurements at 800 (< 850 but >= 600) spread over the three days
    @pytest.mark.parametrize(("below_per_day", "passed", "text"), [
        ((0, 0, 0), True, "reached in 30 of 30 measurements (100 %), needs 90 %"),
        ((1, 1, 1), True, "reached in 27 of 30 measurements (90 %), needs 90 %"),  # exactly 90 %
        ((2, 1, 1), False, "reached in 26 of 30 measurements (86.6 %), needs 90 %"),
        ((4, 0, 0), False, "reached in 26 of 30 measurements (86.6 %), needs 90 %"),
    ])
    def test_exactly_ninety_percent_passes(self, below_per_day, passed, text) -> None:
        down = [_with({k: 800.0 for k in range(1, 1 + n)}) for n in below_per_day]
        result = _run(down)
        assert by_id(result)[("b-normal", "download")] is passed
        detail = next(c.detail for c in result.criteria if c.id == "b-normal")
        assert detail == f"normally available 850 Mbit/s {text}"
        assert result.verdict == ("pass" if passed else "shortfall")

    @pytest.mark.parametrize(("value", "passed"), [(850.0, True), (849.999, False)])
    def test_the_rate_itself_counts_as_reached(self, value, passed) -> None:
        down = [_with({k: value for k in range(1, 5)}) for _ in DAYS]  # 12 at the edge
        assert by_id(_run(down))[("b-normal", "download")] is passed


class TestCriterionAMaximum:
    """(a): 90 % of the maximum not reached even once on at least 2 of the 3 days."""

    @pytest.mark.parametrize(("day_peaks", "passed"), [
        ((950, 950, 950), True),
        ((950, 950, 899.99), True),   # missed on 1 day only
        ((950, 899.99, 899.99), False),  # missed on 2 days
        ((899.99, 899.99, 899.99), False),
        ((900.0, 900.0, 899.99), True),  # exactly 0.9 × 1000 counts as reached
    ])
    def test_two_of_three_days(self, day_peaks, passed) -> None:
        down = [_with({0: peak}) for peak in day_peaks]
        result = _run(down)
        assert by_id(result)[("a-maximum", "download")] is passed
        assert result.verdict == ("pass" if passed else "shortfall")

    def test_detail_names_the_days(self) -> None:
        result = _run([_with({0: 880.0}), GOOD, _with({0: 880.0})])
        detail = next(c.detail for c in result.criteria if c.id == "a-maximum")
        assert detail == ("90 % of maximum 1000 Mbit/s (900 Mbit/s) not reached even once on 2 "
                          "of 3 days (2026-03-02, 2026-03-06); shortfall at 2")


class TestCriterionCMinimum:
    """(c): the minimum undercut (strictly below) on at least 2 of the 3 days."""

    @pytest.mark.parametrize(("lows", "passed"), [
        ((None, None, None), True),
        ((599.99, None, None), True),
        ((599.99, 599.99, None), False),
        ((600.0, 600.0, 600.0), True),  # equal to the minimum is not an undercut
        ((599.99, None, 599.99), False),
    ])
    def test_two_of_three_days(self, lows, passed) -> None:
        down = [GOOD if low is None else _with({9: low}) for low in lows]
        result = _run(down)
        assert by_id(result)[("c-minimum", "download")] is passed
        assert by_id(result)[("b-normal", "download")] is True  # at most 3 below 850


class TestDirections:
    """Download and upload are judged separately; either can establish the shortfall."""

    def test_upload_failing_while_download_passes(self) -> None:
        up = [_with({k: 30.0 for k in range(1, 3)}, UP_GOOD) for _ in DAYS]  # 24 of 30 >= 35
        result = _run([GOOD] * 3, up)
        assert result.verdict == "shortfall"
        failed = [(c.id, c.direction) for c in result.criteria if c.passed is False]
        assert failed == [("b-normal", "upload")]
        assert result.reasons == (
            "upload: normally available 35 Mbit/s reached in 24 of 30 measurements (80 %), "
            "needs 90 %",)

    def test_plan_without_upload_judges_download_only(self) -> None:
        con = contract("de-bnetza", DE_DOWN)
        result = evaluate(con, campaign(DAYS, [GOOD] * 3))
        assert result.verdict == "pass"
        assert {c.direction for c in result.criteria} == {"all", "download"}


def _progress(rows: list[Row], **rules):
    con = contract("de-bnetza", DE_DOWN, DE_UP, rules or None)
    result = evaluate(con, rows)
    return result.verdict, result.campaign.days_complete, result.campaign.measurements


def _days(days, per_day=None, **kw) -> list[Row]:
    rows: list[Row] = []
    for day, n in zip(days, per_day or [10] * len(days), strict=True):
        rows += day_rows(day, GOOD[:n], UP_GOOD[:n], **kw)
    return rows


class TestCampaignValidity:
    """30 measurements, 10 on each of 3 local days, free days between, 14 days, spacing."""

    @pytest.mark.parametrize(("days", "per_day", "expected"), [
        (DAYS, (10, 10, 10), ("pass", 3, 30)),
        (DAYS, (10, 10, 9), ("inconclusive", 2, 29)),  # 29 vs 30
        (DAYS, (10, 10, 11), ("pass", 3, 30)),  # surplus measurements do not count
        (("2026-03-02", "2026-03-03", "2026-03-04"), (10, 10, 10), ("inconclusive", 2, 20)),
        (("2026-03-01", "2026-03-08", "2026-03-14"), (10, 10, 10), ("pass", 3, 30)),  # 14 days
        (("2026-03-01", "2026-03-08", "2026-03-15"), (10, 10, 10), ("inconclusive", 2, 20)),
        (("2026-03-01", "2026-03-03", "2026-03-15"), (10, 10, 10), ("inconclusive", 2, 20)),
    ])
    def test_days_and_counts(self, days, per_day, expected) -> None:
        assert _progress(_days(days, per_day)) == expected

    @pytest.mark.parametrize(("spacing_min", "gap_min", "expected"), [
        (5, 180, ("pass", 3, 30)),  # exactly 5 min and exactly 3 h
        (4.99, 180, ("inconclusive", 0, 0)),  # every other measurement is too close
        (10, 179.99, ("inconclusive", 0, 0)),  # 6th just under 3 h after the 5th
        (10, 10, ("inconclusive", 0, 0)),
    ])
    def test_spacing_and_gap(self, spacing_min, gap_min, expected) -> None:
        verdict, days, _ = _progress(_days(DAYS, spacing_min=spacing_min, gap_min=gap_min))
        assert (verdict, days) == expected[:2]

    def test_gap_is_a_parameter(self) -> None:
        rows = _days(DAYS, gap_min=125)
        assert _progress(rows)[0] == "inconclusive"
        assert _progress(rows, gap_h=2)[0] == "pass"
        assert _progress(rows, gap_h=2.1)[0] == "inconclusive"

    def test_incomplete_detail_says_what_is_missing(self) -> None:
        result = evaluate(DE, _days(DAYS, (10, 10, 9)))
        assert result.verdict == "inconclusive"
        assert result.campaign.detail.startswith(
            "campaign incomplete: 2 of 3 measurement days complete, 29 of 30 measurements (")
        assert result.campaign.detail.endswith("; 2026-03-06 has 9 of 10")
        assert [c.id for c in result.criteria] == ["campaign"]

    def test_flagged_measurement_does_not_count(self) -> None:
        rows = _days(DAYS)
        t, d, u, lat, _ = rows[3]
        rows[3] = (t, d, u, lat, True)
        result = evaluate(DE, rows)
        assert (result.verdict, result.flagged_measurements) == ("inconclusive", 1)
        assert result.reasons[-1].startswith("1 measurement(s) flagged as limited")

    def test_measurement_missing_a_direction_does_not_count(self) -> None:
        rows = _days(DAYS)
        t, d, _, lat, f = rows[0]
        rows[0] = (t, d, None, lat, f)
        assert _progress(rows)[0] == "inconclusive"

    def test_first_or_latest_campaign(self) -> None:
        bad = campaign(DAYS, [[800.0] * 10] * 3, [UP_GOOD] * 3)
        good = _days(("2026-03-16", "2026-03-18", "2026-03-20"))
        assert evaluate(DE, bad + good).verdict == "shortfall"
        latest = contract("de-bnetza", DE_DOWN, DE_UP, {"campaign": "latest"})
        result = evaluate(latest, bad + good)
        assert result.verdict == "pass"
        assert result.campaign.days == (date(2026, 3, 16), date(2026, 3, 18), date(2026, 3, 20))

    def test_measurements_before_contract_start_do_not_count(self) -> None:
        con = contract("de-bnetza", DE_DOWN, DE_UP, start=date(2026, 3, 4))
        result = evaluate(con, _days(DAYS))
        assert (result.verdict, result.valid_measurements) == ("inconclusive", 20)


class TestLocalCalendar:
    """Days are the subscriber's local calendar days; spacing is elapsed time (DST-correct)."""

    def test_day_across_utc_midnight_is_one_local_day(self) -> None:
        # 00:05-04:25 Berlin (CET) is 23:05-03:25 UTC: two UTC days, one local day.
        rows = _days(DAYS, first="00:05")
        assert rows[0][0].date() != rows[9][0].date()  # the UTC dates differ
        assert _progress(rows)[:2] == ("pass", 3)

    def test_local_midnight_splits_a_day(self) -> None:
        # 23:00-00:35 local (CET) is 22:00-23:35 UTC: one UTC day, but locally 6 + 4.
        rows = _days(DAYS, first="23:00", gap_min=15)
        assert rows[0][0].date() == rows[9][0].date()  # the UTC dates agree
        assert _progress(rows, gap_h=0.25)[:2] == ("inconclusive", 0)
        assert _progress(_days(DAYS, first="22:00", gap_min=15), gap_h=0.25)[:2] == ("pass", 3)

    @pytest.mark.parametrize(("sixth_local", "complete"), [
        ("2026-03-29 05:30", True),   # 01:30 CET → 05:30 CEST is 3 h elapsed
        ("2026-03-29 05:29", False),
        ("2026-03-29 04:30", False),  # 3 h on the wall clock, 2 h elapsed
    ])
    def test_spring_forward_in_berlin(self, sixth_local, complete) -> None:
        first = [at(f"2026-03-29 01:{m:02d}") for m in (0, 5, 10, 15, 30)]
        sixth = at(sixth_local)
        later = [at(f"2026-03-29 06:{m:02d}") for m in (0, 10, 20, 30)]
        dst_day = [(t, 870.0, 40.0, 10.0, False) for t in [*first, sixth, *later]]
        dst_day[0] = (dst_day[0][0], 950.0, 46.0, 10.0, False)
        rows = _days(("2026-03-25", "2026-03-27")) + dst_day
        assert _progress(rows)[:2] == (("pass", 3) if complete else ("inconclusive", 2))

    def test_fall_back_in_berlin(self) -> None:
        # 2026-10-25: 02:30 happens twice. 00:00-00:40 CEST, then 02:40 CET (fold=1) is 3 h
        # elapsed after 00:40 CEST though the wall clock says 2 h.
        first = [at(f"2026-10-25 00:{m:02d}") for m in (0, 10, 20, 30, 40)]
        rest = [at("2026-10-25 02:40", fold=1), at("2026-10-25 02:50", fold=1),
                *(at(f"2026-10-25 03:{m:02d}") for m in (0, 10, 20))]
        day = [(t, 950.0 if i == 0 else 870.0, 46.0 if i == 0 else 40.0, 10.0, False)
               for i, t in enumerate(first + rest)]
        rows = _days(("2026-10-21", "2026-10-23")) + day
        result = evaluate(DE, rows)
        assert result.verdict == "pass"
        assert result.campaign.days[-1] == date(2026, 10, 25)


class TestConfidence:
    """The interval is reported beside the literal rule and never changes the verdict."""

    def test_six_of_thirty(self) -> None:
        down = [_with({k: 800.0 for k in range(1, 3)}) for _ in DAYS]
        result = _run(down)
        conf = result.confidence[0]
        assert (conf.direction, conf.failing, conf.tests) == ("download", 6, 30)
        assert conf.lower == pytest.approx(0.0771355, abs=1e-6)
        assert conf.upper == pytest.approx(0.3856665, abs=1e-6)
        assert result.verdict == "shortfall"
