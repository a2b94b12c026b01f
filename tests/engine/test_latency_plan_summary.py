"""Latency estimators, plan validation and the summary into a Measurement record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from probe.engine.latency import idle_latency, jitter_ms, loaded_latency_ms
from probe.engine.plan import MeasurePlan, Progress, directions_from_choice
from probe.engine.summary import DirectionObservation, build_measurement
from probe.errors import UsageError
from probe.measurement import Measurement, Sample


class TestLatency:
    """Median, minimum and jitter of round trips."""

    def test_median_min_jitter(self) -> None:
        result = idle_latency([10.0, 12.0, 11.0, 30.0, 10.5])
        assert result.median_ms == 11.0
        assert result.min_ms == 10.0
        # |2| + |1| + |19| + |19.5| over 4 differences
        assert result.jitter_ms == pytest.approx(41.5 / 4)
        assert result.rtts_ms == (10.0, 12.0, 11.0, 30.0, 10.5)

    def test_constant_rtt_has_no_jitter(self) -> None:
        assert jitter_ms([5.0] * 10) == 0.0
        assert jitter_ms([5.0]) == 0.0

    def test_loaded_latency(self) -> None:
        assert loaded_latency_ms([]) is None
        assert loaded_latency_ms([40.0, 10.0, 20.0]) == 20.0

    def test_refuses_nonsense(self) -> None:
        with pytest.raises(ValueError, match="at least one"):
            idle_latency([])
        with pytest.raises(ValueError, match="negative"):
            idle_latency([1.0, -1.0])

    @given(st.lists(st.floats(min_value=0.0, max_value=10_000.0), min_size=1, max_size=50))
    def test_ordering_properties(self, rtts: list[float]) -> None:
        result = idle_latency(rtts)
        assert result.min_ms <= result.median_ms <= max(rtts)
        assert 0.0 <= result.jitter_ms <= max(rtts) - min(rtts)


class TestPlan:
    """A plan validates its fields on construction."""

    def test_defaults(self) -> None:
        plan = MeasurePlan()
        assert plan.duration_s == 10.0
        assert plan.directions == ("down", "up")
        assert plan.sample_interval_s <= 0.1
        assert plan.measures_download
        assert plan.measures_upload

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"duration_s": 0.0},
            {"duration_s": float("nan")},
            {"duration_s": 1000.0},
            {"streams": 0},
            {"streams": 1.5},
            {"streams": True},
            {"directions": ()},
            {"directions": ("sideways",)},
            {"directions": ("down", "down")},
            {"ping_count": 3},
            {"sample_interval_s": 0.5},
            {"loaded_ping_interval_s": -1.0},
        ],
    )
    def test_nonsense_is_a_usage_error(self, kwargs: dict[str, object]) -> None:
        with pytest.raises(UsageError):
            MeasurePlan(**kwargs)  # type: ignore[arg-type]

    def test_direction_choice(self) -> None:
        assert directions_from_choice("both") == ("down", "up")
        assert directions_from_choice("up") == ("up",)
        with pytest.raises(UsageError):
            directions_from_choice("left")

    def test_progress_fraction(self) -> None:
        assert Progress("download", 5.0, 10.0).fraction == 0.5
        assert Progress("download", 15.0, 10.0).fraction == 1.0
        assert Progress("latency", 0.2, 0.0).fraction == 1.0


def _linear(rate_bytes_s: float, duration_s: float) -> tuple[Sample, ...]:
    steps = int(duration_s * 10) + 1
    return tuple(Sample(i / 10, round(rate_bytes_s * i / 10)) for i in range(steps))


class TestSummary:
    """Raw observations become a Measurement with the right flags and counts."""

    STARTED = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)

    def _build(self, **kwargs: object) -> Measurement:
        defaults: dict[str, object] = {
            "measurement_id": "6f1c0a56-0000-4000-8000-000000000000",
            "started_at": self.STARTED,
            "server": "http://127.0.0.1:1",
            "idle_rtts_ms": [1.0] * 10,
            "download": None,
            "upload": None,
        }
        defaults.update(kwargs)
        return build_measurement(MeasurePlan(duration_s=5.0, streams=2), **defaults)  # type: ignore[arg-type]

    def test_upload_counted_at_server(self) -> None:
        client = _linear(2_000_000, 5.0)  # the client thinks it sent more
        timelines = tuple(
            tuple((100.0 + i / 20, round(500_000 * i / 20)) for i in range(101)) for _ in range(2)
        )
        up = DirectionObservation(
            samples=client, streams_started=2, streams_completed=2,
            server_timelines=timelines, server_received_bytes=5_000_000,
            loaded_rtts_ms=(5.0, 7.0, 6.0),
        )
        m = self._build(upload=up)
        assert m.upload is not None
        assert m.upload.counted_at == "server"
        assert m.upload_mbps == pytest.approx(8.0, rel=1e-9)
        assert m.upload.transferred_bytes == 5_000_000
        assert m.upload.loaded_latency_ms == 6.0
        assert m.download is None
        assert "upload_not_counted" not in m.flags

    def test_upload_without_server_count_is_withheld_and_flagged(self) -> None:
        """The client's send count is never the figure: null plus a flag (issue #13)."""
        up = DirectionObservation(samples=_linear(1_000_000, 5.0), streams_started=2,
                                  streams_completed=2, server_timelines=None)
        m = self._build(upload=up)
        assert m.upload is not None
        assert m.upload.counted_at == "client"
        assert m.upload_mbps is None
        assert "upload_not_counted" in m.flags
        again = Measurement.from_json_dict(m.to_json_dict())
        assert again.upload is not None
        assert again.upload_mbps is None
        assert again.flags == m.flags

    def test_loaded_latency_only_inside_the_window(self) -> None:
        """Round trips sent before the window's start or answered after its end are left out."""
        down = DirectionObservation(
            samples=_linear(1_000_000, 8.0), streams_started=2, streams_completed=2,
            loaded_rtts_ms=(500.0, 20.0, 30.0, 900.0), loaded_ping_times_s=(0.1, 3.0, 5.0, 7.9),
        )
        m = self._build(download=down)
        assert m.download is not None
        assert m.download.loaded_rtts_ms == (20.0, 30.0)
        assert m.download.loaded_latency_ms == 25.0

    def test_a_window_that_is_not_steady_is_flagged(self) -> None:
        """A stall longer than the edge search, across the window's end: flagged unsteady.

        (A shorter one is not: the end moves back to where the count had caught up.)"""
        samples = [Sample(t / 10, 1_000_000 * t // 10) for t in range(0, 40)]
        # Bytes held back from 4 s (across the window's end at 7 s), released at 7.5 s.
        samples += [Sample(t / 10, 4_000_000) for t in range(40, 75)]
        samples += [Sample(t / 10, 1_000_000 * t // 10) for t in range(75, 90)]
        down = DirectionObservation(samples=tuple(samples), streams_started=4,
                                    streams_completed=4, all_running_until_s=7.0)
        m = self._build(download=down)
        assert m.download is not None
        assert m.download.steady is False
        assert "unsteady" in m.flags
        steady = self._build(download=DirectionObservation(
            samples=_linear(1_000_000, 8.0), streams_started=4, streams_completed=4))
        assert steady.download is not None
        assert steady.download.steady is True
        assert "unsteady" not in steady.flags

    def test_download_flags_early_end_and_cpu(self) -> None:
        down = DirectionObservation(
            samples=_linear(1_250_000, 5.0), streams_started=2, streams_completed=1,
            all_running_until_s=4.0, elapsed_s=5.0, client_cpu_s=4.9,
        )
        m = self._build(download=down, idle_rtts_ms=[])
        assert m.download is not None
        assert m.download.window_end_s == pytest.approx(4.0)
        assert m.download_mbps == pytest.approx(10.0, rel=1e-9)
        assert "download_streams_ended_early" in m.flags
        assert "client_cpu_limited" in m.flags
        assert m.latency is None

    def test_json_round_trip_keeps_raw_samples(self) -> None:
        down = DirectionObservation(samples=_linear(1_250_000, 5.0), streams_started=2,
                                    streams_completed=2, loaded_rtts_ms=(3.0, 4.0))
        m = self._build(download=down, started_at=datetime(2026, 1, 1, 13, tzinfo=timezone(
            timedelta(hours=1))))
        data = m.to_json_dict()
        assert data["started_at"] == "2026-01-01T12:00:00+00:00"
        assert data["upload_mbps"] is None
        assert data["loaded_latency_up_ms"] is None
        assert len(data["samples"]["download"]) == 51
        back = Measurement.from_json_dict(data)
        assert back.download_mbps == m.download_mbps
        assert back.download is not None
        assert back.download.samples == m.download.samples
