"""Properties over random measurement series (hypothesis).

- Raising every measured rate never turns a pass into a shortfall (any profile).
- One call for a whole fleet gives each subscriber the verdict it gets alone.
- The order of rows in the frame does not matter.
- The shortcuts that skip a sort (rows already in blocks or in order) give the sort's order.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from probe.compliance.fleet import evaluate_fleet
from probe.compliance.frame import _by_subscriber_then_time
from probe.compliance.profiles.de_bnetza_campaign import _by_sub_day_time
from tests.compliance.builders import DE_DOWN, DE_UP, Row, campaign, contract, evaluate, frame

DAYS = ("2026-03-27", "2026-03-29", "2026-03-31")  # across the Berlin DST change
DOWN = [500.0, 599.99, 600.0, 800.0, 850.0, 899.99, 900.0, 950.0]
UP = [10.0, 14.99, 15.0, 34.99, 35.0, 44.99, 45.0, 50.0]
CONTRACTS = {
    "de-bnetza": contract("de-bnetza", DE_DOWN, DE_UP),
    "cn-miit": contract("cn-miit", {"maximum_mbps": 1000}, {"maximum_mbps": 50},
                        {"min_measurements": 5}),
    "eu-berec": contract("eu-berec", DE_DOWN, DE_UP, {"min_measurements": 5}),
    "us-fcc": contract("us-fcc", {"advertised_mbps": 1000}, {"advertised_mbps": 50},
                       {"min_measurements": 3, "latency_limit_ms": 30, "testing_hours": [6, 24]}),
    "uk-ofcom": contract("uk-ofcom", {"minimum_mbps": 600}),
    "custom": contract("custom", DE_DOWN, None, {"rate": "normally_available"}),
}
SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def series(draw: st.DrawFn) -> list[Row]:
    """A 30-measurement campaign (sometimes with gaps) with rates around every bar."""
    down = draw(st.lists(st.sampled_from(DOWN), min_size=30, max_size=30))
    up = draw(st.lists(st.sampled_from(UP), min_size=30, max_size=30))
    rows = campaign(DAYS, [down[i:i + 10] for i in (0, 10, 20)],
                    [up[i:i + 10] for i in (0, 10, 20)], first="06:00")
    drop = draw(st.sets(st.integers(0, 29), max_size=2))
    return [r for i, r in enumerate(rows) if i not in drop]


class TestMonotone:
    """Raising rates never turns pass into shortfall, in any profile."""

    @SETTINGS
    @given(rows=series(), raise_by=st.lists(st.sampled_from([0.0, 0.01, 50.0, 400.0]),
                                            min_size=30, max_size=30),
           profile=st.sampled_from(sorted(CONTRACTS)))
    def test_raising_rates(self, rows: list[Row], raise_by: list[float], profile: str) -> None:
        con = CONTRACTS[profile]
        before = evaluate(con, rows)
        raised = [(t, d + raise_by[i], u + raise_by[i] / 20, lat, f)
                  for i, (t, d, u, lat, f) in enumerate(rows)]
        after = evaluate(con, raised)
        if before.verdict == "pass":
            assert after.verdict == "pass"
        failed_before = {(c.id, c.direction) for c in before.criteria if c.passed is False}
        failed_after = {(c.id, c.direction) for c in after.criteria if c.passed is False}
        if profile != "uk-ofcom":  # the cure walk may move a decision; its verdict is monotone
            assert failed_after <= failed_before


class TestFleetEqualsAlone:
    """Evaluating many subscribers in one call equals evaluating each one alone."""

    @SETTINGS
    @given(data=st.lists(st.tuples(series(), st.sampled_from(sorted(CONTRACTS)),
                                   st.sampled_from(["Europe/Berlin", "America/New_York",
                                                    "Asia/Shanghai"])),
                         min_size=1, max_size=4),
           seed=st.integers(0, 2**16))
    def test_fleet(self, data, seed: int) -> None:
        contracts, frames, alone = {}, [], []
        for i, (rows, profile, tz) in enumerate(data):
            base = CONTRACTS[profile]
            con = contract(base.plan.profile, _rates(base.plan.download),
                           None if base.plan.upload is None else _rates(base.plan.upload),
                           dict(base.plan.rules), tz=tz, subscriber=f"S{i}")
            contracts[con.subscriber_id] = con
            frames.append(frame(rows, con.subscriber_id))
            alone.append(evaluate(con, rows))
        # one plan id per profile would collide across time zones: ids are per test contract
        fleet = pd.concat(frames, ignore_index=True).sample(frac=1.0, random_state=seed)
        together = evaluate_fleet(fleet, contracts)
        assert [e.to_json_dict() for e in together] == [e.to_json_dict() for e in alone]
        # One time-ordered block per subscriber (how datasets are written) takes the O(n)
        # ordering path instead of the sort; blocks in reverse contract order.
        blocks = pd.concat(frames[::-1], ignore_index=True)
        in_blocks = evaluate_fleet(blocks, contracts)
        assert [e.to_json_dict() for e in in_blocks] == [e.to_json_dict() for e in alone]


def _rates(rates) -> dict[str, float]:
    return {k: v for k, v in {
        "maximum_mbps": rates.maximum_mbps, "normally_available_mbps":
        rates.normally_available_mbps, "minimum_mbps": rates.minimum_mbps,
        "advertised_mbps": rates.advertised_mbps}.items() if v is not None}


class TestFlaggedRowsAreNotEvidence:
    """Adding flagged measurements changes nothing but the flagged count."""

    @SETTINGS
    @given(rows=series(), extra=st.lists(st.tuples(st.integers(0, 29), st.sampled_from(DOWN)),
                                         min_size=1, max_size=5),
           profile=st.sampled_from(sorted(CONTRACTS)))
    def test_flagged(self, rows: list[Row], extra, profile: str) -> None:
        con = CONTRACTS[profile]
        flagged = [(rows[i % len(rows)][0] + pd.Timedelta(minutes=1).to_pytimedelta(), rate,
                    1.0, 500.0, True) for i, rate in extra]
        clean = evaluate(con, rows).to_json_dict()
        noisy = evaluate(con, rows + flagged).to_json_dict()
        assert noisy.pop("flagged_measurements") == len(flagged)
        clean.pop("flagged_measurements")
        assert noisy.pop("not_counted")["flagged"] == len(flagged)
        assert clean.pop("not_counted")["flagged"] == 0
        noisy_reasons, clean_reasons = noisy.pop("reasons"), clean.pop("reasons")
        assert noisy == clean
        assert noisy_reasons[:-1] == clean_reasons


@st.composite
def keyed_rows(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(subscriber, day, time) columns with many ties; often one time-ordered block per
    subscriber or fully in order, the inputs the shortcuts take."""
    n = draw(st.integers(0, 40))
    sub = np.array(draw(st.lists(st.integers(0, 5), min_size=n, max_size=n)), dtype=np.int64)
    t = np.array(draw(st.lists(st.integers(0, 8), min_size=n, max_size=n)), dtype=np.int64)
    day = t // 3 - np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)),
                            dtype=np.int64)  # mostly with time; sometimes a day runs back
    shape = draw(st.sampled_from(["any", "blocks", "sorted"]))
    if shape != "any" and n:
        rank = np.array(draw(st.permutations(range(6))), dtype=np.int64)
        order = np.lexsort((t, rank[sub] if shape == "blocks" else sub))
        sub, day, t = sub[order], day[order], t[order]
    return sub, day, t


class TestSortShortcuts:
    """Skipping a sort never changes the order a stable sort would give."""

    @settings(max_examples=300, deadline=None)
    @given(columns=keyed_rows())
    def test_subscriber_then_time(self, columns) -> None:
        sub, _day, t = columns
        assert np.array_equal(_by_subscriber_then_time(sub, t), np.lexsort((t, sub)))

    @settings(max_examples=300, deadline=None)
    @given(columns=keyed_rows())
    def test_subscriber_day_time(self, columns) -> None:
        sub, day, t = columns
        assert np.array_equal(_by_sub_day_time(sub, day, t), np.lexsort((t, day, sub)))
