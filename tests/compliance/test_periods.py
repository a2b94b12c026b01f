"""A subscriber's verdict per period: the unchanged rules on only its peak-hour tests, and on only
its off-peak ones, with peak decided exactly as the ``period`` tag of its ``broadband`` points."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from probe.compliance.contract import Contract
from probe.compliance.fleet import evaluate_fleet
from probe.compliance.labels import fleet_labels, in_peak, peak_bounds_us, period_of
from probe.compliance.periods import evaluate_periods, peak_rows
from probe.report.rollup import rollup
from probe.report.summary import summarise, summarise_periods
from tests.compliance.builders import Row, at, contract, frame

CN = contract("cn-miit", {"maximum_mbps": 300}, {"maximum_mbps": 30}, tz="Asia/Shanghai",
              subscriber="CN-1")
# Same plan in another zone: its evening is other UTC hours.
DE = dataclasses.replace(CN, subscriber_id="DE-1", time_zone="Europe/Berlin")
# eu-berec's own peak hours, with a fractional start (19:30).
EU = contract("eu-berec", {"maximum_mbps": 100, "normally_available_mbps": 80,
                           "minimum_mbps": 50}, None,
              {"peak_hours": [19.5, 23], "min_measurements": 5}, tz="Europe/Vienna",
              subscriber="EU-1")


def _days(tz: str, peak_mbps: float, off_peak_mbps: float, days: int = 12) -> list[Row]:
    """One test at 10:00 and one at 21:00 local each day."""
    rows: list[Row] = []
    for d in range(days):
        day = f"2026-05-{1 + d:02d}"
        rows.append((at(f"{day} 10:00", tz), off_peak_mbps, 30.0, 10.0, False))
        rows.append((at(f"{day} 21:00", tz), peak_mbps, 30.0, 10.0, False))
    return rows


def _fleet() -> tuple[pd.DataFrame, dict[str, Contract]]:
    # CN-1 delivers in the morning and sags to 200 Mbit/s every evening (k × 300 = 270);
    # DE-1 delivers all day.
    data = pd.concat([frame(_days("Asia/Shanghai", 200.0, 300.0), "CN-1"),
                      frame(_days("Europe/Berlin", 300.0, 300.0), "DE-1")],
                     ignore_index=True)
    return data, {"CN-1": CN, "DE-1": DE}


def test_a_line_that_sags_at_peak_passes_off_peak_and_fails_at_peak() -> None:
    data, contracts = _fleet()
    whole = {e.subscriber_id: e.verdict for e in evaluate_fleet(data, contracts)}
    by_period = evaluate_periods(data, contracts)
    verdicts = {p: {e.subscriber_id: e.verdict for e in es} for p, es in by_period.items()}
    assert whole == {"CN-1": "shortfall", "DE-1": "pass"}  # 12 of 24 tests reach 270
    assert verdicts == {"peak": {"CN-1": "shortfall", "DE-1": "pass"},
                        "off_peak": {"CN-1": "pass", "DE-1": "pass"}}
    peak_cn = next(e for e in by_period["peak"] if e.subscriber_id == "CN-1")
    assert peak_cn.valid_measurements == 12  # its evening tests only, in its own zone


# eu-berec judged by peak and off-peak: a share of peak tests and a share of the others.
EU_PEAK = contract("eu-berec", {"maximum_mbps": 100, "normally_available_mbps": 80,
                                "minimum_mbps": 50}, None,
                   {"period": "peak", "min_measurements": 5}, tz="Europe/Vienna",
                   subscriber="EU-P")


@pytest.mark.parametrize(("evening_mbps", "whole", "peak", "off_peak"), [
    (90.0, "pass", "pass", "pass"),
    (70.0, "shortfall", "shortfall", "pass"),  # below the normal rate, above the minimum
])
def test_a_rule_with_clauses_per_period_judges_each_period_by_its_own(
        evening_mbps: float, whole: str, peak: str, off_peak: str) -> None:
    """Judged with both clauses, a one-period window's other clause has no tests: a line
    that delivers all day would be inconclusive in both periods, never pass."""
    data = frame(_days("Europe/Vienna", evening_mbps, 90.0), "EU-P")
    contracts = {"EU-P": EU_PEAK}
    assert [e.verdict for e in evaluate_fleet(data, contracts)] == [whole]
    by_period = evaluate_periods(data, contracts)
    assert {p: [e.verdict for e in es] for p, es in by_period.items()} == {
        "peak": [peak], "off_peak": [off_peak]}
    clauses = {p: {c.id for c in es[0].criteria} for p, es in by_period.items()}
    assert clauses == {"peak": {"minimum", "normal-peak"},
                       "off_peak": {"minimum", "normal-off-peak"}}
    assert {c.id for c in evaluate_fleet(data, contracts)[0].criteria} == {
        "minimum", "normal-peak", "normal-off-peak"}


def test_too_few_tests_in_a_period_is_inconclusive_not_an_error() -> None:
    data = frame(_days("Asia/Shanghai", 300.0, 300.0, days=6), "CN-1")  # 6 a period, needs 10
    by_period = evaluate_periods(data, {"CN-1": CN})
    assert [e.verdict for e in evaluate_fleet(data, {"CN-1": CN})] == ["pass"]
    assert {p: [e.verdict for e in es] for p, es in by_period.items()} == {
        "peak": ["inconclusive"], "off_peak": ["inconclusive"]}


def test_rows_get_the_period_their_broadband_point_is_tagged_with() -> None:
    """Every minute of two days around the bounds, in three zones, with a profile's own
    fractional peak hours: the fleet's rows and fleet_labels (the tag) agree row by row."""
    contracts = {"CN-1": CN, "DE-1": DE, "EU-1": EU}
    start = at("2026-03-28 18:00", "Europe/Berlin")  # the night Europe changes to summer time
    times = [start + timedelta(minutes=m, microseconds=m % 3 - 1) for m in range(0, 2 * 1440)]
    rows = pd.DataFrame({
        "subscriber_id": pd.Categorical([s for s in contracts for _ in times]),
        "started_at": pd.to_datetime([t for _ in contracts for t in times], utc=True)})
    peak, known = peak_rows(rows, contracts)
    assert known.all()
    tagged = np.array([fleet_labels(contracts[s], t.to_pydatetime()).period == "peak"
                       for s, t in zip(rows["subscriber_id"], rows["started_at"], strict=True)])
    assert (peak == tagged).all()
    assert 0 < peak.sum() < len(rows)


@pytest.mark.parametrize(("local", "period"), [
    ("19:29:59.999999", "off_peak"), ("19:30:00", "peak"), ("22:59:59.999999", "peak"),
    ("23:00:00", "off_peak")])
def test_bounds_are_exact_to_the_microsecond(local: str, period: str) -> None:
    hours = (Fraction(39, 2), Fraction(23))
    assert period_of(EU, at(f"2026-05-04 {local}", "Europe/Vienna"), hours) == period
    h, m, s = local.split(":")
    of_day_us = round((int(h) * 3600 + int(m) * 60 + float(s)) * 1_000_000)
    assert bool(in_peak(np.array([of_day_us]), peak_bounds_us(hours))[0]) is (period == "peak")


def test_rollup_by_period_counts_each_subscriber_once_per_period() -> None:
    data, contracts = _fleet()
    summary = summarise(evaluate_fleet(data, contracts), contracts)
    periods = summarise_periods(evaluate_periods(data, contracts), contracts)
    report = rollup(summary, ("period",), periods=periods)
    shares = {g.key["period"]: (g.passed, g.shortfall) for g in report.groups}
    assert shares == {"peak": (1, 1), "off_peak": (2, 0)}
    # The whole-fleet row is still the whole-window verdicts, not the periods' rows.
    assert (report.overall.subscribers, report.overall.passed) == (2, 1)
    assert [s.subscriber_id for s in report.shortfalls] == ["CN-1"]
    with pytest.raises(ValueError, match="summary per period"):
        rollup(summary, ("period",))
