"""The campaign planner agrees with the verdict, and plans around what did not happen."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest

from probe.agent.campaign import BnetzaCampaign, WindowCampaign
from probe.agent.schedule import at_local
from probe.compliance.check import resolve_profile
from probe.compliance.fleet import evaluate_fleet
from tests.agent.simulate import load_contract

DE = load_contract("de-cable-1000.toml")
US = load_contract("us-tier-300.toml")


def bnetza(**kw: float) -> BnetzaCampaign:
    _, params = resolve_profile(DE)
    return BnetzaCampaign(params, DE.zone, **kw)


def local(day: date, hour: float) -> datetime:
    return at_local(day, hour, DE.zone)


def verdict_campaign(starts: list[datetime]) -> dict[str, object]:
    frame = pd.DataFrame({
        "subscriber_id": [DE.subscriber_id] * len(starts),
        "started_at": pd.to_datetime(starts, utc=True),
        "download_mbps": [950.0] * len(starts), "upload_mbps": [48.0] * len(starts),
        "latency_ms": [10.0] * len(starts), "flagged": [False] * len(starts),
    })
    [evaluation] = evaluate_fleet(frame, {DE.subscriber_id: DE})
    assert evaluation.campaign is not None
    return evaluation.campaign.to_json_dict()


@pytest.mark.parametrize("seed", range(60))
def test_progress_agrees_with_the_verdict_on_random_histories(seed: int) -> None:
    rng = random.Random(seed)
    campaign = bnetza()
    starts: list[datetime] = []
    day0 = date(2026, 3, 2)
    for d in range(rng.randint(3, 16)):
        day = day0 + timedelta(days=d)
        if rng.random() < 0.45:
            continue
        t = local(day, rng.uniform(6, 12))
        for _ in range(rng.randint(6, 16)):
            starts.append(t)
            t += timedelta(minutes=rng.choice([2, 4.99, 5, 5, 8, 12, 30, 179, 180, 185]))
    status = campaign.status(starts)
    truth = verdict_campaign(starts) if starts else {"complete": False, "days_complete": 0}
    assert status.complete is truth["complete"], (status, truth)
    if not status.complete:
        assert status.days_done == truth["days_complete"], (status, truth)


def test_a_day_plans_ten_tests_with_spacing_and_the_long_gap() -> None:
    campaign = bnetza(day_start_hour=12.0, spacing_s=12 * 60)
    day = date(2026, 3, 2)
    now = local(day, 7.0)
    valid: list[datetime] = []
    rng = random.Random(1)
    while len(valid) < 10:
        due = campaign.next_due(now, valid, rng.random)
        assert due is not None
        assert due.astimezone(DE.zone).date() == day
        valid.append(due)
        now = due + timedelta(seconds=30)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(valid)]
    assert all(g >= 5 * 60 + 60 for g in gaps)
    assert gaps[4] >= 3 * 3600
    assert len(campaign.day_picks(valid)) == 10
    # The next day is the free day; the campaign continues the day after.
    nxt = campaign.next_due(now, valid, rng.random)
    assert nxt is not None
    assert nxt.astimezone(DE.zone).date() == day + timedelta(days=2)


def test_a_day_that_cannot_finish_is_given_up_for_the_next() -> None:
    campaign = bnetza()
    day = date(2026, 3, 2)
    valid = [local(day, 12.0 + k * 0.25) for k in range(3)]
    late = local(day, 21.5)  # 7 more tests and a 3 h gap cannot fit before midnight
    due = campaign.next_due(late, valid, lambda: 0.5)
    assert due is not None
    assert due.astimezone(DE.zone).date() == day + timedelta(days=1)


def test_a_chain_that_cannot_fit_its_span_starts_afresh() -> None:
    campaign = bnetza()
    first = date(2026, 3, 2)
    day1 = [local(first, 12.0 + k * 0.25) for k in range(5)]
    day1 += [local(first, 16.0 + k * 0.25) for k in range(5)]
    assert campaign.status(day1).days_done == 1
    # 13 days later the chain from the first day can no longer get 2 more days in 14.
    now = local(first + timedelta(days=13), 8.0)
    due = campaign.next_due(now, day1, lambda: 0.0)
    assert due is not None
    assert due.astimezone(DE.zone).date() == first + timedelta(days=13)
    # Within the span it continues the chain: the next admissible day.
    due = campaign.next_due(local(first, 20.0), day1, lambda: 0.0)
    assert due is not None
    assert due.astimezone(DE.zone).date() == first + timedelta(days=2)


def test_complete_campaign_plans_nothing() -> None:
    campaign = bnetza()
    starts = []
    for d in (0, 2, 4):
        day = date(2026, 3, 2) + timedelta(days=d)
        starts += [local(day, 10 + k * 0.2) for k in range(5)]
        starts += [local(day, 14 + k * 0.2) for k in range(5)]
    assert campaign.status(starts).complete
    assert verdict_campaign(starts)["complete"] is True
    assert campaign.next_due(local(date(2026, 3, 7), 9), starts, lambda: 0.5) is None


def test_window_campaign_counts_only_the_testing_hours() -> None:
    _, params = resolve_profile(US)
    hours = params.window("testing_hours")
    assert hours is not None
    campaign = WindowCampaign("us-fcc", (float(hours[0]), float(hours[1])), 3, US.zone)
    day = date(2026, 3, 2)
    inside = [at_local(day, 18.5, US.zone), at_local(day, 23.9, US.zone)]
    outside = [at_local(day, 17.9, US.zone), at_local(day, 12.0, US.zone)]
    assert campaign.status(inside + outside).done == 2
    now = at_local(day, 23.95, US.zone)
    due = campaign.next_due(now, inside, lambda: 0.5)
    assert due is not None
    local_due = due.astimezone(US.zone)
    assert local_due.date() == day + timedelta(days=1)
    assert 18 <= local_due.hour < 19
    done = [*inside, at_local(day + timedelta(days=1), 19.0, US.zone)]
    assert campaign.next_due(now, done, lambda: 0.5) is None
    assert datetime(2026, 3, 2, tzinfo=UTC) < due
