"""The stream-count rule: slow lines behind short queues keep fewer streams, others keep all."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from probe.cli.measure_cmd import render_summary
from probe.engine.plan import MeasurePlan
from probe.engine.streamcount import (
    CHECK_AT_S,
    CHECK_BY_S,
    MIN_PACKETS_PER_STREAM,
    SEGMENT_BYTES,
    RetireCheck,
    loaded_rtt_s,
    recent_rate,
    streams_to_keep,
)
from probe.engine.summary import DirectionObservation, build_measurement, summarise_direction
from probe.measurement import Measurement, Sample

MBIT = 1e6 / 8  # bytes/s per Mbit/s


class TestStreamsToKeep:
    @pytest.mark.parametrize(("rate_mbps", "rtt_s", "kept"), [
        (5.0, 0.022, 1),     # 20 ms tbf queue at 5 Mbit/s: ~9 packets in flight
        (2.0, 0.050, 4),     # below 4 Mbit/s every stream is kept
        (4.0, 0.030, 1),     # ~10 packets at 4 Mbit/s
        (10.0, 0.022, 1),    # ~19 packets: one stream of twelve or more
        (5.0, 0.6, 4),       # deep queue: ~260 packets
        (0.5, 0.6, 4),       # 0.5 Mbit/s behind 600 ms: below 4 Mbit/s
        (100.0, 0.005, 3),   # fibre with a shallow buffer: ~43 packets
        (1000.0, 0.001, 4),  # ~86 packets
    ])
    def test_lab_and_field_lines(self, rate_mbps: float, rtt_s: float, kept: int) -> None:
        assert streams_to_keep(4, rate_mbps * MBIT, rtt_s) == kept

    @pytest.mark.parametrize(("rate", "rtt"), [(None, 0.02), (1e6, None), (0.0, 0.02),
                                               (1e6, 0.0), (-1.0, 0.02)])
    def test_unknown_inputs_keep_every_stream(self, rate: float | None,
                                              rtt: float | None) -> None:
        assert streams_to_keep(4, rate, rtt) == 4

    def test_one_stream_stays_one(self) -> None:
        assert streams_to_keep(1, 1000.0, 0.001) == 1

    @given(streams=st.integers(1, 32), rate=st.floats(1.0, 1e10),
           rtt=st.floats(1e-4, 5.0))
    def test_bounds_and_packets_per_stream(self, streams: int, rate: float,
                                           rtt: float) -> None:
        kept = streams_to_keep(streams, rate, rtt)
        assert 1 <= kept <= streams
        packets = rate * rtt / SEGMENT_BYTES
        if kept < streams:  # retired only when too few packets, and as few as needed
            assert packets < streams * MIN_PACKETS_PER_STREAM
            assert kept == 1 or packets / kept >= MIN_PACKETS_PER_STREAM


class TestInputs:
    def test_the_lowest_loaded_ping_after_the_line_filled(self) -> None:
        """The first ping crossed an empty queue; a ping that waited out a retransmission
        timeout (800 ms) must not make the line look deep."""
        assert loaded_rtt_s([(0.0, 1.0), (0.4, 800.0), (0.8, 24.0), (1.0, 22.0)]) == \
            pytest.approx(0.022)
        assert loaded_rtt_s([(0.0, 1.0)]) is None

    def test_recent_rate_is_the_last_half_second(self) -> None:
        samples = [Sample(t / 10, 1000 * t if t <= 10 else 10_000 + 3000 * (t - 10))
                   for t in range(16)]
        assert recent_rate(samples) == pytest.approx(30_000.0)
        assert recent_rate(samples[:1]) is None


class TestRetireCheck:
    def slow_line(self, until_s: float) -> list[Sample]:
        return [Sample(t / 10, int(5 * MBIT * t / 10)) for t in range(int(until_s * 10) + 1)]

    def test_decides_once_at_the_check_time(self) -> None:
        check = RetireCheck(4)
        pings = [(0.4, 22.0), (0.8, 22.0)]
        assert check.due(CHECK_AT_S - 0.1, self.slow_line(1.1), pings) is None
        assert check.due(CHECK_AT_S, self.slow_line(CHECK_AT_S), pings) == 1
        assert check.at_s == CHECK_AT_S
        assert check.due(CHECK_AT_S + 0.1, self.slow_line(1.3), pings) is None
        assert check.kept == 1

    def test_waits_for_two_loaded_pings(self) -> None:
        check = RetireCheck(4)
        assert check.due(1.5, self.slow_line(1.5), [(0.0, 1.0), (0.4, 22.0)]) is None
        assert not check.decided
        assert check.due(1.6, self.slow_line(1.6), [(0.4, 22.0), (1.2, 23.0)]) == 1

    def test_keeping_all_sets_no_retirement_time(self) -> None:
        check = RetireCheck(4)
        assert check.due(1.5, self.slow_line(1.5), [(0.4, 600.0), (1.0, 620.0)]) == 4
        assert check.at_s is None

    def test_without_loaded_pings_nothing_is_retired(self) -> None:
        check = RetireCheck(4)
        assert check.due(CHECK_BY_S - 0.1, self.slow_line(2.4), []) is None
        assert check.due(CHECK_BY_S, self.slow_line(CHECK_BY_S), []) == 4
        assert check.at_s is None


class TestSummaryAfterRetirement:
    """A download's window starts anew after the retirement; retired is not ended early."""

    def test_download_window_starts_after_the_retirement(self) -> None:
        samples = tuple(Sample(t / 10, int(625_000 * t / 10)) for t in range(61))
        obs = DirectionObservation(samples=samples, streams_started=4, streams_completed=4,
                                   all_running_until_s=6.0, streams_retired=3,
                                   retired_at_s=1.3)
        result, flags = summarise_direction("download", obs, 4)
        assert result.window_start_s >= 2.3
        assert result.retired_at_s == 1.3
        assert flags == ()


class TestRecord:
    """The record says how many streams were retired and when; old records load as none."""

    def build(self) -> Measurement:
        samples = tuple(Sample(t / 10, int(625_000 * t / 10)) for t in range(61))
        obs = DirectionObservation(samples=samples, streams_started=4, streams_completed=4,
                                   all_running_until_s=6.0, elapsed_s=6.0, streams_retired=3,
                                   retired_at_s=1.3)
        return build_measurement(
            MeasurePlan(streams=4, duration_s=6.0), measurement_id="m1",
            started_at=datetime(2026, 11, 29, 9, tzinfo=UTC), server="http://127.0.0.1:1",
            idle_rtts_ms=[1.0], download=obs, upload=None)

    def test_round_trip_and_summary(self) -> None:
        m = self.build()
        details = m.to_json_dict()["download"]
        assert (details["streams_retired"], details["retired_at_s"]) == (3, 1.3)
        assert Measurement.from_json_dict(m.to_json_dict()) == m
        assert "1 of 4 streams kept from 1.3 s" in render_summary(m)
        assert not any("ended_early" in flag for flag in m.flags)

    def test_old_record_loads_with_none_retired(self) -> None:
        data = self.build().to_json_dict()
        del data["download"]["streams_retired"], data["download"]["retired_at_s"]
        old = Measurement.from_json_dict(data)
        assert old.download is not None
        assert (old.download.streams_retired, old.download.retired_at_s) == (0, None)
