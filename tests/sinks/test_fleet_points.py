"""The fleet data model: per-test points with their contract, window verdicts, probe status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from probe.compliance.labels import fleet_labels
from probe.compliance.verdict import CampaignProgress, Confidence, Criterion, Evaluation
from probe.errors import RecordFormatError
from probe.sinks.fleetpoints import ProbeStatus, encode_probe_status, encode_window_verdict
from probe.sinks.lineprotocol import SCHEMA, LabelledRecord, encode_point
from probe.store import SqliteStore
from tests.compliance.builders import DE_DOWN, DE_UP, at, contract
from tests.store.builders import make_measurement

DOCS = Path(__file__).resolve().parents[2] / "docs" / "data-model.md"
DE = contract("de-bnetza", DE_DOWN, DE_UP, subscriber="DE-1")
WINDOW_END = datetime(2026, 3, 20, 18, 0, tzinfo=UTC)


def evaluation(verdict: str = "shortfall", *, campaign: bool = True) -> Evaluation:
    progress = CampaignProgress(True, 3, 3, 30, 30, (), "3 of 3 days") if campaign else None
    return Evaluation(
        subscriber_id="DE-1", profile="de-bnetza", plan_id="p", verdict=verdict,  # type: ignore[arg-type]
        criteria=(Criterion("b-normal", "download", verdict == "pass", "x"),),
        confidence=(Confidence("download", 4, 30, 0.04, 0.31, 0.95, "below normal"),),
        valid_measurements=30, flagged_measurements=2, campaign=progress)


class TestPerTestPoint:
    def test_fleet_labels_become_tags_and_fields(self) -> None:
        m = make_measurement(3, started_at=at("2026-03-02 20:15"))
        labels = fleet_labels(DE, m.started_at).to_json_dict()
        line = encode_point(LabelledRecord.of(m, "pr-1", fleet=labels, subscriber_id="DE-1",
                                              contract_ref="p", verdict="shortfall"))
        assert line.startswith(
            "broadband,backend=native,contract_ref=p,period=peak,plan=p,probe_id=pr-1,"
            "profile=de-bnetza,server=http://127.0.0.1:8080,subscriber_id=DE-1,"
            "technology=cable,verdict=shortfall download_mbps=93.125,")
        assert line.endswith(
            ",duration_s=10.0,compliant=0.0,contract_download_mbps=1000.0,"
            "contract_upload_mbps=50.0,threshold_download_mbps=850.0,threshold_upload_mbps=35.0,"
            "minimum_download_mbps=600.0,minimum_upload_mbps=15.0,download_contract_ratio=0.093125,"
            "upload_contract_ratio=0.425 1772478900000000000")

    def test_inconclusive_and_unchecked_tests_carry_no_compliant_field(self) -> None:
        for verdict in ("inconclusive", None):
            line = encode_point(LabelledRecord.of(make_measurement(1), "p", verdict=verdict))
            assert "compliant=" not in line

    def test_the_store_keeps_the_labels_for_the_forwarder(self, tmp_path: Path) -> None:
        m = make_measurement(0)
        labels = fleet_labels(DE, m.started_at).to_json_dict()
        with SqliteStore.open(tmp_path / "p.db") as store:
            store.save(m, probe_id="pr", subscriber_id="DE-1", verdict="pass", fleet=labels)
            [entry] = store.pending(10)
            [record] = store.history()
        assert entry.figures["fleet"] == labels
        assert encode_point(entry) == encode_point(
            LabelledRecord.of(m, "pr", fleet=labels, subscriber_id="DE-1", verdict="pass"))
        assert "fleet" not in record.record  # the record itself is unchanged


class TestWindowPoint:
    def test_golden_line(self) -> None:
        assert encode_window_verdict(evaluation(), DE, WINDOW_END, window_s=86400 * 3) == (
            "broadband_window,plan=p,profile=de-bnetza,subscriber_id=DE-1,technology=cable "
            "compliant=0.0,inconclusive=0.0,valid_measurements=30.0,flagged_measurements=2.0,"
            "window_s=259200.0,download_tests=30.0,download_failing_tests=4.0,"
            "download_failing_share_lower=0.04,download_failing_share_upper=0.31,"
            "campaign_complete=1.0,campaign_days_complete=3.0,campaign_days_needed=3.0,"
            "campaign_measurements=30.0,campaign_measurements_needed=30.0 1774029600000000000")

    def test_verdict_per_period_is_tagged_and_the_whole_window_is_not(self) -> None:
        whole = encode_window_verdict(evaluation(), DE, WINDOW_END)
        peak = encode_window_verdict(evaluation(), DE, WINDOW_END, period="peak")
        assert "period=" not in whole  # as before per-period points existed
        assert peak == whole.replace(",plan=p,", ",period=peak,plan=p,")
        assert ",period=off_peak," in encode_window_verdict(evaluation(), DE, WINDOW_END,
                                                           period="off_peak")
        with pytest.raises(RecordFormatError, match="period must be one of peak, off_peak"):
            encode_window_verdict(evaluation(), DE, WINDOW_END, period="evening")

    def test_inconclusive_without_campaign(self) -> None:
        line = encode_window_verdict(evaluation("inconclusive", campaign=False), DE, WINDOW_END)
        assert "compliant" not in line
        assert "campaign" not in line
        assert "technology=cable inconclusive=1.0,valid_measurements=30.0," in line

    def test_mismatched_contract_is_refused(self) -> None:
        other = contract("de-bnetza", DE_DOWN, subscriber="DE-2")
        with pytest.raises(RecordFormatError, match="paired with the contract"):
            encode_window_verdict(evaluation(), other, WINDOW_END)


class TestProbePoint:
    def test_golden_line_leaves_unknowns_out(self) -> None:
        status = ProbeStatus("pr 1", WINDOW_END + timedelta(microseconds=5), outbox_backlog=12,
                             tests_deferred=3)
        assert encode_probe_status(status) == (
            "broadband_probe,probe_id=pr\\ 1 outbox_backlog=12.0,tests_deferred=3.0 "
            "1774029600000005000")

    def test_status_without_numbers_is_refused(self) -> None:
        with pytest.raises(RecordFormatError, match="at least one number"):
            encode_probe_status(ProbeStatus("p", WINDOW_END))


def test_docs_name_every_measurement_tag_and_field() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for spec in SCHEMA:
        assert f"`{spec.name}`" in text, spec.name
        for tag in spec.tags:
            assert f"`{tag.name}`" in text, (spec.name, tag.name)
        for field in spec.fields:
            assert f"`{field.name}`" in text, (spec.name, field.name)
            assert f"`{spec.name}_{field.name}`" in text, (spec.name, field.name)
