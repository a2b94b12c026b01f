"""The measurement record survives its JSON form and refuses records it cannot trust."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from probe.errors import RecordFormatError
from probe.measurement import (
    DirectionResult,
    LatencyResult,
    Measurement,
    Sample,
    parse_utc,
)

STARTED = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)


def make_record(*, upload: bool = True) -> Measurement:
    down = DirectionResult(
        goodput_mbps=95.61, transferred_bytes=60_000_000, window_start_s=1.2,
        window_end_s=5.0, samples=(Sample(0.1, 1_000_000), Sample(0.2, 2_200_000)),
        counted_at="client", loaded_rtts_ms=(12.0, 14.5), loaded_latency_ms=13.25,
        streams_completed=4)
    up = DirectionResult(
        goodput_mbps=9.56, transferred_bytes=6_000_000, window_start_s=1.0, window_end_s=5.1,
        samples=(Sample(0.0, 0), Sample(0.1, 120_000)), counted_at="server",
        loaded_rtts_ms=(40.0,), loaded_latency_ms=40.0, streams_completed=4)
    return Measurement(
        id="6f1c1a6e-8d53-4c3e-9b83-1f0f3c0e9a11", started_at=STARTED,
        server="http://127.0.0.1:8080", streams=4, duration_s=5.0,
        latency=LatencyResult(rtts_ms=(0.5, 0.6, 0.4), median_ms=0.5, min_ms=0.4, jitter_ms=0.15),
        download=down, upload=up if upload else None, flags=("wifi",))


class TestJsonForm:
    """``to_json_dict`` carries the documented fields and round-trips exactly."""

    def test_documented_fields(self) -> None:
        data = make_record().to_json_dict()
        for key in ("id", "started_at", "server", "backend", "download_mbps", "upload_mbps",
                    "latency_ms", "jitter_ms", "loaded_latency_down_ms", "loaded_latency_up_ms",
                    "download_bytes", "upload_bytes", "streams", "duration_s", "samples"):
            assert key in data
        assert data["backend"] == "native"
        assert data["started_at"] == "2026-11-28T12:00:00+00:00"
        assert data["samples"]["download"] == [[0.1, 1_000_000], [0.2, 2_200_000]]

    def test_round_trip_through_json_text(self) -> None:
        record = make_record()
        again = Measurement.from_json_dict(json.loads(json.dumps(record.to_json_dict())))
        assert again == record

    def test_unmeasured_direction_is_null(self) -> None:
        data = make_record(upload=False).to_json_dict()
        assert data["upload_mbps"] is None
        assert data["upload_bytes"] is None
        assert data["loaded_latency_up_ms"] is None
        assert Measurement.from_json_dict(data).upload is None

    def test_minimal_record_from_other_tools(self) -> None:
        """A record with only the figures a rule needs is enough for evaluation."""
        record = Measurement.from_json_dict({
            "id": "x", "started_at": "2026-01-01T18:30:00Z", "download_mbps": 80.0,
            "upload_mbps": 9.0, "latency_ms": 12.0})
        assert record.download_mbps == 80.0
        assert record.latency_ms == 12.0
        assert record.started_at == datetime(2026, 1, 1, 18, 30, tzinfo=UTC)

    @given(st.floats(min_value=0, max_value=1e5, allow_nan=False),
           st.floats(min_value=0, max_value=1e5, allow_nan=False))
    def test_rates_survive(self, down: float, up: float) -> None:
        data = make_record().to_json_dict() | {"download_mbps": down, "upload_mbps": up}
        again = Measurement.from_json_dict(json.loads(json.dumps(data)))
        assert (again.download_mbps, again.upload_mbps) == (down, up)


class TestRefusals:
    """Records that cannot be trusted are refused with a one-line reason."""

    def test_naive_timestamp_refused(self) -> None:
        with pytest.raises(RecordFormatError, match="UTC offset"):
            parse_utc("2026-11-28T12:00:00")

    def test_naive_datetime_in_record_refused(self) -> None:
        with pytest.raises(RecordFormatError):
            Measurement(id="x", started_at=datetime(2026, 1, 1), server="", streams=1,
                        duration_s=1.0)

    def test_offset_is_normalised_to_utc(self) -> None:
        cst = timezone(timedelta(hours=8))
        assert parse_utc(datetime(2026, 1, 1, 20, 0, tzinfo=cst)) == STARTED.replace(
            month=1, day=1, hour=12)

    @pytest.mark.parametrize(("data", "message"), [
        ({"started_at": "2026-01-01T00:00:00Z"}, "lacks the field 'id'"),
        ({"id": "x", "started_at": "yesterday"}, "ISO 8601"),
        ({"id": "x", "started_at": "2026-01-01T00:00:00Z", "download_mbps": -1}, ">= 0"),
        ({"id": "x", "started_at": "2026-01-01T00:00:00Z", "download_mbps": "fast"}, "malformed"),
        ({"id": "x", "started_at": "2026-01-01T00:00:00Z", "latency_ms": float("nan")}, "finite"),
    ])
    def test_bad_records(self, data: dict[str, object], message: str) -> None:
        with pytest.raises(RecordFormatError, match=message):
            Measurement.from_json_dict(data)

    def test_not_an_object(self) -> None:
        with pytest.raises(RecordFormatError, match="JSON object"):
            Measurement.from_json_dict([1, 2])  # type: ignore[arg-type]
