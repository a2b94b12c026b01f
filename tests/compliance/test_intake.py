"""One measurement, one vote, and every row that does not count counted (probe.compliance.intake).

- Property: any input concatenated with itself (in any order) gives the same evaluation; only
  the duplicate counts differ.
- The same id with different content is an error naming both rows.
- Unlabelled rows: one contract → its rows; several → counted as unlabelled, never silent.
- Rows before the contract start, flagged, demo, voided and outside the rule's hours are
  counted per subscriber by reason.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from probe.compliance.fleet import evaluate_fleet
from probe.compliance.intake import REASONS, take_in
from probe.errors import RecordFormatError
from tests.compliance.builders import DE_DOWN, Row, at, contract, day_rows, frame
from tests.compliance.test_properties import CONTRACTS, SETTINGS, series


def with_ids(rows: list[Row], subscriber: str = "A", prefix: str = "") -> pd.DataFrame:
    out = frame(rows, subscriber)
    out["id"] = [f"{prefix}{subscriber}-{i}" for i in range(len(out))]
    out["source"] = [f"m.jsonl:{i + 1}" for i in range(len(out))]
    return out


def counts(evaluation) -> dict[str, int]:
    return dict(evaluation.not_counted)


class TestOneMeasurementOneVote:
    @SETTINGS
    @given(rows=series(), profile=st.sampled_from(sorted(CONTRACTS)), seed=st.integers(0, 999))
    def test_input_twice_gives_the_same_verdict(self, rows: list[Row], profile: str,
                                                seed: int) -> None:
        con = CONTRACTS[profile]
        once = with_ids(rows)
        twice = pd.concat([once, once], ignore_index=True).sample(frac=1.0, random_state=seed)
        alone = evaluate_fleet(once, {"A": con})[0].to_json_dict()
        doubled = evaluate_fleet(twice, {"A": con})[0].to_json_dict()
        assert doubled["not_counted"].pop("duplicate") == len(rows)
        assert alone["not_counted"].pop("duplicate") == 0
        doubled_reasons, alone_reasons = doubled.pop("reasons"), alone.pop("reasons")
        assert doubled == alone
        assert doubled_reasons[:len(alone_reasons)] == alone_reasons

    def test_same_id_other_content_names_both_rows(self) -> None:
        rows = day_rows("2026-03-02", [900.0, 870.0])
        data = with_ids(rows)
        changed = data.iloc[[0]].copy()
        changed["download_mbps"] = 500.0
        changed["source"] = "other.jsonl:7"
        bad = pd.concat([data, changed], ignore_index=True)
        with pytest.raises(RecordFormatError) as info:
            evaluate_fleet(bad, {"A": CONTRACTS["cn-miit"]})
        assert str(info.value) == (
            "measurement id 'A-0' occurs twice with different content: m.jsonl:1 and "
            "other.jsonl:7 differ in download_mbps (900.0 vs 500.0); one measurement must "
            "have one record")

    def test_labelled_and_unlabelled_copy_are_one_measurement(self) -> None:
        rows = day_rows("2026-03-02", [900.0] * 5)
        labelled = with_ids(rows, "A")
        plain = labelled.assign(subscriber_id="")
        a, b = contract("cn-miit", {"maximum_mbps": 1000}, subscriber="A"), contract(
            "cn-miit", {"maximum_mbps": 1000}, subscriber="B")
        intake = take_in(pd.concat([plain, labelled], ignore_index=True), {"A": a, "B": b})
        assert (intake.counts.duplicates, intake.counts.unlabelled) == (5, 0)
        assert list(intake.frame["subscriber_id"]) == ["A"] * 5

    def test_two_labels_for_one_id_is_an_error(self) -> None:
        rows = day_rows("2026-03-02", [900.0])
        both = pd.concat([with_ids(rows, "A"), with_ids(rows, "A").assign(subscriber_id="B")],
                         ignore_index=True)
        with pytest.raises(RecordFormatError, match="differ in subscriber_id"):
            take_in(both, {"A": CONTRACTS["cn-miit"]})

    def test_rows_without_ids_are_not_checked_and_say_so(self) -> None:
        rows = day_rows("2026-03-02", [900.0] * 3)
        intake = take_in(frame(rows + rows), {"A": CONTRACTS["cn-miit"]})
        assert (intake.counts.duplicates, intake.counts.ids_checked) == (0, False)
        assert "duplicates not checked" in intake.counts.describe()


class TestUnlabelledRows:
    def test_one_contract_owns_them_even_beside_other_subscribers(self) -> None:
        # The case: one unlabelled row, one row of another subscriber.
        rows = day_rows("2026-03-02", [900.0, 900.0])
        data = with_ids(rows, "")
        data.loc[1, "subscriber_id"] = "someone-else"
        con = contract("custom", DE_DOWN, subscriber="A")
        intake = take_in(data, {"A": con})
        assert (len(intake.frame), intake.counts.other_subscribers) == (1, 1)
        assert evaluate_fleet(data, {"A": con})[0].valid_measurements == 1

    def test_several_contracts_count_them(self) -> None:
        a = contract("custom", DE_DOWN, subscriber="A")
        b = contract("custom", DE_DOWN, subscriber="B")
        labelled = with_ids(day_rows("2026-03-02", [900.0] * 3), "A")
        plain = with_ids(day_rows("2026-03-03", [900.0] * 2), "", prefix="x")
        data = pd.concat([labelled, plain], ignore_index=True)
        intake = take_in(data, {"A": a, "B": b})
        assert (intake.counts.unlabelled, len(intake.frame)) == (2, 3)
        assert "2 unlabelled rows not counted" in intake.counts.describe()
        # Picking one of several contracts does not make the unlabelled rows its own.
        picked = take_in(data, {"A": a}, unlabelled_to_sole=False)
        assert (picked.counts.unlabelled, len(picked.frame)) == (2, 3)

    def test_all_unlabelled_with_several_contracts_is_refused(self) -> None:
        a = contract("custom", DE_DOWN, subscriber="A")
        b = contract("custom", DE_DOWN, subscriber="B")
        data = with_ids(day_rows("2026-03-02", [900.0] * 2), "")
        with pytest.raises(RecordFormatError, match="no measurement names its subscriber"):
            take_in(data, {"A": a, "B": b})


class TestReasons:
    def test_each_reason_is_counted(self) -> None:
        con = contract("us-fcc", {"advertised_mbps": 100}, None,
                       {"min_measurements": 1}, tz="America/New_York",
                       start=date(2026, 3, 2))
        early = (at("2026-03-01 19:00", "America/New_York"), 100.0, None, 10.0, False)
        morning = (at("2026-03-02 09:00", "America/New_York"), 100.0, None, 10.0, False)
        evening = [(at(f"2026-03-02 {h}:00", "America/New_York"), 100.0, None, 10.0, False)
                   for h in (18, 19, 20)]
        flagged = (at("2026-03-02 21:00", "America/New_York"), 10.0, None, 10.0, True)
        demo = (at("2026-03-02 22:00", "America/New_York"), 10.0, None, 10.0, True)
        voided = (at("2026-03-02 23:00", "America/New_York"), 10.0, None, 10.0, False)
        data = with_ids([early, morning, *evening, flagged, demo, voided])
        data["not_evidence"] = [""] * 6 + ["demo", "voided"]
        data = pd.concat([data, data.iloc[[2]]], ignore_index=True)
        result = evaluate_fleet(data, {"A": con})[0]
        assert [r for r, _ in result.not_counted] == list(REASONS)
        assert counts(result) == {"duplicate": 1, "demo": 1, "voided": 1,
                                  "before_contract_start": 1, "flagged": 1,
                                  "outside_hours": 1}
        assert (result.verdict, result.valid_measurements) == ("pass", 4)
        assert "also not counted: 1 duplicate, 1 demo, 1 voided, 1 before contract start, " \
               "1 outside hours" in result.reasons
