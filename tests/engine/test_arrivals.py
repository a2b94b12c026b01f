"""The arrival check: a count whose window starts behind a lost segment is no evidence."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from probe.engine.arrivals import (
    COUNTED_AHEAD_SHARE,
    COUNTED_BEHIND_SHARE,
    counted_ahead_share,
    held_back,
)
from probe.engine.plan import MeasurePlan
from probe.engine.summary import DirectionObservation, build_measurement
from probe.measurement import Measurement, Sample

RATE = 250_000  # bytes/s: a 2 Mbit/s line


def _series(count: Callable[[float], float], duration_s: float = 6.0) -> tuple[Sample, ...]:
    return tuple(Sample(i / 10, round(count(i / 10))) for i in range(int(duration_s * 10) + 1))


def _wire(t: float) -> float:
    return RATE * t


def _held_then_released(t: float) -> float:
    """The readable count: 0.4 s of the line held back at 3 s, released evenly by 6 s.

    Lead and catch-up cannot see it: from 3 s on it is a straight line, 13 % too steep.
    """
    if t <= 3.0:
        return _wire(t) - RATE * 0.4 * (t / 3.0)
    return _wire(t) - RATE * 0.4 * (6.0 - t) / 3.0


class TestCountedAheadShare:
    def test_a_held_back_start_is_seen(self) -> None:
        counted, arrived = _series(_held_then_released), _series(_wire)
        share = counted_ahead_share(counted, arrived, 3.0, 6.0)
        assert share == pytest.approx(0.4 / 3.4, rel=1e-3)
        assert held_back(share, losses_seen=True)

    def test_the_same_count_is_not(self) -> None:
        series = _series(_wire)
        assert counted_ahead_share(series, series, 3.0, 6.0) == pytest.approx(0.0, abs=1e-6)
        assert not held_back(counted_ahead_share(series, series, 3.0, 6.0), losses_seen=True)

    def test_arrivals_ahead_count_only_on_a_lossy_connection(self) -> None:
        """Short segments put arrivals ahead (loopback: 30 % and more); without a loss that
        is all it can be, with one the count's end was held back."""
        counted, arrived = _series(_wire), _series(lambda t: 1.3 * _wire(t))
        share = counted_ahead_share(counted, arrived, 3.0, 6.0)
        assert share is not None
        assert share < -COUNTED_BEHIND_SHARE
        assert not held_back(share, losses_seen=False)
        assert not held_back(share, losses_seen=None)
        assert held_back(share, losses_seen=True)
        slight = counted_ahead_share(counted, _series(lambda t: 1.015 * _wire(t)), 3.0, 6.0)
        assert not held_back(slight, losses_seen=True)

    def test_without_arrivals_or_bytes_there_is_no_check(self) -> None:
        series = _series(_wire)
        assert counted_ahead_share(series, (), 3.0, 6.0) is None
        flat = _series(lambda t: 0.0)
        assert counted_ahead_share(flat, series, 3.0, 6.0) is None
        assert counted_ahead_share(series, series, 3.0, 3.0) is None
        assert not held_back(None, losses_seen=True)

    @given(st.floats(min_value=0.0, max_value=0.5), st.floats(min_value=1.0, max_value=1.1))
    def test_never_flags_arrivals_at_or_above_the_count(self, lag_s: float, excess: float) -> None:
        """A count that ends as far behind as it started, with arrivals >= it: not flagged."""
        counted = _series(lambda t: max(0.0, _wire(t) - RATE * lag_s))
        arrived = _series(lambda t: excess * _wire(t))
        assert not held_back(counted_ahead_share(counted, arrived, 2.0, 6.0), losses_seen=False)

    def test_threshold(self) -> None:
        assert not held_back(COUNTED_AHEAD_SHARE, losses_seen=False)
        assert held_back(COUNTED_AHEAD_SHARE + 1e-9, losses_seen=False)
        assert not held_back(-COUNTED_BEHIND_SHARE, losses_seen=True)
        assert held_back(-COUNTED_BEHIND_SHARE - 1e-9, losses_seen=True)


class TestInTheRecord:
    def _build(self, down: DirectionObservation) -> Measurement:
        return build_measurement(
            MeasurePlan(duration_s=6.0, streams=4), measurement_id="6f1c0a56-0000-4000-8000-0",
            started_at=datetime(2026, 11, 29, 12, tzinfo=UTC), server="http://127.0.0.1:1",
            idle_rtts_ms=[1.0] * 5, download=down, upload=None)

    def test_a_straight_but_held_back_count_is_flagged_unsteady(self) -> None:
        counted = _series(_held_then_released)
        plain = self._build(DirectionObservation(samples=counted, streams_started=4,
                                                 streams_completed=4))
        assert plain.download is not None
        assert plain.download.steady is True  # the count alone cannot tell
        assert plain.download_mbps == pytest.approx(RATE * 8e-6 * 3.4 / 3.0, rel=0.02)
        m = self._build(DirectionObservation(samples=counted, streams_started=4,
                                             streams_completed=4, arrived_samples=_series(_wire)))
        assert m.download is not None
        assert m.download.steady is False
        assert "unsteady" in m.flags
        assert m.download.counted_ahead_share is not None
        assert m.download.counted_ahead_share > COUNTED_AHEAD_SHARE

    def test_a_count_held_back_at_its_end_on_a_lossy_line_is_flagged(self) -> None:
        """A straight count 25 % below its arrivals (the end held back): a false shortfall
        unless the connection lost nothing, in which case short segments explain it."""
        def lagging(t: float) -> float:
            return 0.75 * _wire(t)

        lossy = self._build(DirectionObservation(
            samples=_series(lagging), streams_started=4, streams_completed=4,
            arrived_samples=_series(_wire), losses_seen=True))
        assert lossy.download is not None
        assert lossy.download.steady is False
        assert "unsteady" in lossy.flags
        assert lossy.download.losses_seen is True
        clean = self._build(DirectionObservation(
            samples=_series(lagging), streams_started=4, streams_completed=4,
            arrived_samples=_series(_wire), losses_seen=False))
        assert clean.download is not None
        assert clean.download.steady is True
        back = Measurement.from_json_dict(lossy.to_json_dict())
        assert back.download is not None
        assert back.download.losses_seen is True

    def test_a_caught_up_count_is_not_flagged_and_survives_json(self) -> None:
        down = DirectionObservation(samples=_series(_wire), streams_started=4,
                                    streams_completed=4,
                                    arrived_samples=_series(lambda t: 1.01 * _wire(t)))
        m = self._build(down)
        assert m.download is not None
        assert m.download.steady is True
        assert "unsteady" not in m.flags
        data = m.to_json_dict()
        assert data["download"]["counted_ahead_share"] == pytest.approx(-0.01, abs=1e-3)
        assert len(data["samples"]["download_arrived"]) == 61
        back = Measurement.from_json_dict(data)
        assert back.download is not None
        assert back.download.arrived_samples == m.download.arrived_samples
        assert back.download.counted_ahead_share == m.download.counted_ahead_share

    def test_old_records_without_arrivals_still_load(self) -> None:
        m = self._build(DirectionObservation(samples=_series(_wire), streams_started=4,
                                             streams_completed=4))
        data = m.to_json_dict()
        assert data["samples"]["download_arrived"] is None
        del data["samples"]["download_arrived"]
        del data["download"]["counted_ahead_share"]
        back = Measurement.from_json_dict(data)
        assert back.download is not None
        assert back.download.arrived_samples == ()
        assert back.download.counted_ahead_share is None


class TestUpload:
    """The server's arrivals check its own count the same way."""

    def _timelines(self, count: Callable[[float], float]) -> tuple[tuple[tuple[float, int], ...],
                                                                   ...]:
        # Two streams on the server's clock (origin 100 s), each carrying half.
        return tuple(tuple((100.0 + i / 20, round(count(i / 20) / 2)) for i in range(121))
                     for _ in range(2))

    def _build(self, arrivals: tuple[tuple[tuple[float, int], ...], ...] | None) -> Measurement:
        up = DirectionObservation(
            samples=_series(_wire), streams_started=2, streams_completed=2,
            server_timelines=self._timelines(_held_then_released),
            server_received_bytes=round(_wire(6.0)), server_arrivals=arrivals)
        return build_measurement(
            MeasurePlan(duration_s=6.0, streams=2), measurement_id="6f1c0a56-0000-4000-8000-1",
            started_at=datetime(2026, 11, 29, 12, tzinfo=UTC), server="http://127.0.0.1:1",
            idle_rtts_ms=[1.0] * 5, download=None, upload=up)

    def test_a_held_back_server_count_is_flagged(self) -> None:
        m = self._build(self._timelines(_wire))
        assert m.upload is not None
        assert m.upload.counted_at == "server"
        assert m.upload.steady is False
        assert "unsteady" in m.flags
        assert m.upload.counted_ahead_share is not None
        assert m.upload.counted_ahead_share > COUNTED_AHEAD_SHARE
        assert m.upload.arrived_samples[0].t_s == pytest.approx(0.0)
        back = Measurement.from_json_dict(m.to_json_dict())
        assert back.upload is not None
        assert [s.total_bytes for s in back.upload.arrived_samples] == \
            [s.total_bytes for s in m.upload.arrived_samples]
        assert [s.t_s for s in back.upload.arrived_samples] == \
            pytest.approx([s.t_s for s in m.upload.arrived_samples], abs=1e-6)

    def test_an_older_server_without_arrivals_is_not_checked(self) -> None:
        m = self._build(None)
        assert m.upload is not None
        assert m.upload.counted_ahead_share is None
        assert m.upload.arrived_samples == ()
        assert m.to_json_dict()["samples"]["upload_arrived"] is None


class TestRetiredUploadStreams:
    """Upload streams retired on a slow line end early on the server, on purpose."""

    def test_the_window_runs_while_the_kept_stream_does(self) -> None:
        # Two streams share 250 kB/s until 1.5 s; the second is retired then (its body ends
        # at 1.6 s on the server), and the first carries the whole line to 6 s.
        def kept(t: float) -> float:
            return RATE / 2 * min(t, 1.5) + RATE * max(0.0, t - 1.5)

        def gone(t: float) -> float:
            return RATE / 2 * min(t, 1.6)

        first = tuple((100.0 + i / 20, round(kept(i / 20))) for i in range(121))
        second = tuple((100.0 + i / 20, round(gone(i / 20))) for i in range(33))
        up = DirectionObservation(
            samples=_series(_wire), streams_started=2, streams_completed=2,
            server_timelines=(first, second), server_received_bytes=first[-1][1] + second[-1][1],
            streams_retired=1, retired_at_s=1.5)
        m = build_measurement(
            MeasurePlan(duration_s=6.0, streams=2), measurement_id="6f1c0a56-0000-4000-8000-2",
            started_at=datetime(2026, 11, 29, 12, tzinfo=UTC), server="http://127.0.0.1:1",
            idle_rtts_ms=[1.0] * 5, download=None, upload=up)
        assert m.upload is not None
        assert m.upload.window_end_s > 4.5  # not cut at the retired stream's end (1.6 s)
        assert m.upload.window_start_s >= 2.5  # the warm-up counts from the retirement
        assert m.upload_mbps == pytest.approx(RATE * 8e-6, rel=1e-3)
        assert "upload_streams_ended_early" not in m.flags
        assert m.upload.streams_retired == 1
        # Without the retirement the second stream's end would have cut the window at 1.6 s.
        plain = build_measurement(
            MeasurePlan(duration_s=6.0, streams=2), measurement_id="6f1c0a56-0000-4000-8000-3",
            started_at=datetime(2026, 11, 29, 12, tzinfo=UTC), server="http://127.0.0.1:1",
            idle_rtts_ms=[1.0] * 5, download=None,
            upload=dataclasses.replace(up, streams_retired=0, retired_at_s=None))
        assert plain.upload is not None
        assert plain.upload.window_end_s <= 1.6 + 1e-9
