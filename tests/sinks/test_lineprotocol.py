"""The data model's encoder: golden lines, escaping, types, and the docs naming every name."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from probe.errors import RecordFormatError
from probe.measurement import LatencyResult, Measurement
from probe.sinks.lineprotocol import (
    FIELDS,
    FLEET_TAGS,
    MEASUREMENT,
    TAGS,
    LabelledRecord,
    encode_points,
    timestamp_ns,
)
from tests.store.builders import make_measurement

DOCS = Path(__file__).resolve().parents[2] / "docs" / "data-model.md"


class TestGoldenLines:
    """Known records encode to exactly these lines."""

    def test_full_record(self) -> None:
        m = make_measurement(2, flags=("wifi", "client_cpu_limited"))
        record = LabelledRecord.of(m, "probe-a", subscriber_id="sub 1", contract_ref="plan=100",
                                   verdict="pass")
        assert encode_points([record]) == [
            "broadband,backend=native,contract_ref=plan\\=100,flags=client_cpu_limited\\,wifi,"
            "probe_id=probe-a,server=http://127.0.0.1:8080,subscriber_id=sub\\ 1,verdict=pass "
            "download_mbps=92.125,upload_mbps=20.25,latency_ms=11.875,latency_min_ms=11.5,"
            "jitter_ms=0.375,loaded_latency_down_ms=27.0,loaded_latency_up_ms=27.0,"
            "download_bytes=115156200.0,upload_bytes=25312500.0,stream_count=4.0,"
            "duration_s=10.0,compliant=1.0 1772368200123456000"
        ]

    def test_absent_labels_and_figures_are_left_out(self) -> None:
        m = Measurement(id="x", started_at=datetime(2026, 1, 1, tzinfo=UTC), server="",
                        streams=1, duration_s=5.0,
                        latency=LatencyResult((1e-05,), 1e-05, 1e-05, 0.0))
        assert encode_points([LabelledRecord.of(m, "p")]) == [
            "broadband,backend=native,probe_id=p latency_ms=1e-05,latency_min_ms=1e-05,"
            "jitter_ms=0.0,stream_count=1.0,duration_s=5.0 1767225600000000000"
        ]

    def test_control_characters_and_backslashes_cannot_break_a_line(self) -> None:
        m = make_measurement(0, server="a\\ b\nc")
        [line] = encode_points([LabelledRecord.of(m, "p\\")])
        assert "\n" not in line
        assert ",server=a_\\ b_c" in line
        assert ",probe_id=p_" in line

    def test_timestamp_is_the_start_exact_to_the_microsecond(self) -> None:
        # Through float seconds this would round to ...122999808 ns.
        moment = datetime(2286, 11, 20, 17, 46, 39, 123123, tzinfo=UTC)
        assert timestamp_ns(moment) == 9_999_999_999_123_123_000
        assert timestamp_ns("2026-03-01T12:00:00.5+01:00") == 1_772_362_800_500_000_000

    def test_record_without_id_is_refused(self) -> None:
        with pytest.raises(RecordFormatError, match="lacks 'id'"):
            encode_points([LabelledRecord({"started_at": "2026-01-01T00:00:00Z"}, "p")])

    def test_every_field_is_a_float(self) -> None:
        [line] = encode_points([LabelledRecord.of(make_measurement(1), "p")])
        fields = line.split(" ")[1].split(",")
        assert all(re.fullmatch(r"[a-z_]+=-?[0-9.e+-]+", f) for f in fields), fields
        assert not any(f.endswith("i") for f in fields)


class TestNamesAreDocumented:
    """docs/data-model.md names the measurement, every tag and every field (dashboards use it)."""

    def test_docs_name_everything(self) -> None:
        text = DOCS.read_text(encoding="utf-8")
        assert f"`{MEASUREMENT}`" in text
        for name in [t.name for t in TAGS] + [f.name for f in FIELDS]:
            assert f"`{name}`" in text, name
            assert f"`{MEASUREMENT}_{name}`" in text or name in {t.name for t in TAGS}, name

    def test_field_names_carry_units(self) -> None:
        for spec in FIELDS:
            assert spec.name.endswith(("_mbps", "_ms", "_s", "_bytes", "_count")), spec.name

    def test_tag_order_is_the_sorted_tag_names(self) -> None:
        from probe.sinks.lineprotocol import _TAG_ORDER

        assert list(_TAG_ORDER) == sorted(t.name for t in (*TAGS, *FLEET_TAGS))
