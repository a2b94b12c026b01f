"""Throughput estimators driven by synthetic byte-count samples."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probe.engine.throughput import (
    MAX_WARMUP_SHARE,
    MIN_WARMUP_S,
    cumulative_at,
    estimate_throughput,
    goodput_over,
    merge_stream_timelines,
    steady_state_window,
)
from probe.errors import ProtocolViolation
from probe.measurement import Sample


def sampled(rate_bytes: Callable[[float], float], duration_s: float, step_s: float = 0.1) -> list[
    Sample
]:
    """Samples of a cumulative-bytes function at ``step_s`` intervals from 0 to duration."""
    n = round(duration_s / step_s)
    return [Sample(i * step_s, round(rate_bytes(i * step_s))) for i in range(n + 1)]


def mbps(bytes_per_s: float) -> float:
    return bytes_per_s * 8 / 1e6


class TestConstantRate:
    """A constant rate is reported exactly, whatever the window."""

    def test_constant_rate_is_exact(self) -> None:
        rate = 12_500_000  # 100 Mbit/s
        est = estimate_throughput(sampled(lambda t: rate * t, 10.0))
        assert est.goodput_mbps == pytest.approx(100.0, rel=1e-9)
        assert est.window_start_s == pytest.approx(MIN_WARMUP_S)
        assert est.window_end_s == pytest.approx(10.0)
        assert est.total_bytes == rate * 10

    @settings(max_examples=60, deadline=None)
    @given(
        rate_mbps=st.floats(min_value=0.5, max_value=10_000),
        duration_s=st.floats(min_value=1.0, max_value=30.0),
        jitter=st.lists(st.floats(min_value=0.0, max_value=0.099), min_size=400, max_size=400),
    )
    def test_any_constant_rate_and_irregular_sampling(
        self, rate_mbps: float, duration_s: float, jitter: list[float]
    ) -> None:
        rate = rate_mbps * 1e6 / 8
        times = [0.0]
        i = 0
        while times[-1] < duration_s:
            times.append(min(duration_s, times[-1] + 0.001 + jitter[i % len(jitter)]))
            i += 1
        samples = [Sample(t, round(rate * t)) for t in times]
        est = estimate_throughput(samples)
        # Rounding to whole bytes at the two window ends is the only error.
        assert est.goodput_mbps == pytest.approx(rate_mbps, rel=1e-6, abs=1e-4)
        # Warm-up takes at most half the run; caught-up edges move in by at most a quarter
        # of the rest at each end.
        counted = (1 - MAX_WARMUP_SHARE) * duration_s / 2
        assert est.window_end_s - est.window_start_s >= counted - 1e-9


class TestWarmUp:
    """Slow start and idle starts are excluded from the window by the documented rule."""

    def test_exponential_slow_start_is_excluded(self) -> None:
        rate = 25_000_000  # 200 Mbit/s steady

        def cumulative(t: float) -> float:
            # Rate doubles every 100 ms from 100 kB/s until it reaches the steady rate.
            ramp_end = 0.1 * math.log2(rate / 100_000)
            if t <= ramp_end:
                return 100_000 * (2 ** (t / 0.1) - 1) * 0.1 / math.log(2)
            return cumulative(ramp_end) + rate * (t - ramp_end)

        samples = sampled(cumulative, 10.0)
        est = estimate_throughput(samples)
        naive = mbps(samples[-1].total_bytes / 10.0)
        assert naive < 195.0  # the whole-run mean is dragged down by the ramp
        assert est.goodput_mbps == pytest.approx(200.0, rel=1e-3)

    def test_late_start_moves_the_window(self) -> None:
        rate = 1_250_000  # 10 Mbit/s after 2 s of nothing (e.g. a slow handshake)
        samples = sampled(lambda t: max(0.0, t - 2.0) * rate, 10.0)
        start, end = steady_state_window(samples)
        assert start >= 2.0 + 0.9 * 0.5 - 1e-9
        assert end == pytest.approx(10.0)
        assert goodput_over(samples, start, end)[0] == pytest.approx(10.0, rel=1e-9)

    def test_window_never_starts_after_half_the_run(self) -> None:
        # A rate that keeps growing never looks steady; half the run is still counted.
        samples = sampled(lambda t: 1_000_000 * t**3, 10.0)
        start, end = steady_state_window(samples)
        assert start == pytest.approx(5.0)
        assert end == pytest.approx(10.0)

    def test_initial_burst_is_not_counted(self) -> None:
        # A token-bucket shaper lets a burst through at line rate first.
        rate = 2_500_000
        samples = sampled(lambda t: rate * t + min(t, 0.2) * 50_000_000, 10.0)
        est = estimate_throughput(samples)
        assert est.goodput_mbps == pytest.approx(20.0, rel=1e-9)


class TestWindowEnd:
    """The window ends when the first stream stopped."""

    def test_early_end_limits_window(self) -> None:
        # 4 streams at 10 MB/s each until 6 s, then one stream is gone.
        samples = sampled(lambda t: 40e6 * min(t, 6.0) + 30e6 * max(0.0, t - 6.0), 10.0)
        est = estimate_throughput(samples, all_running_until_s=6.0)
        assert est.window_end_s == pytest.approx(6.0)
        assert est.goodput_mbps == pytest.approx(320.0, rel=1e-9)

    def test_degenerate_inputs(self) -> None:
        assert estimate_throughput([]).goodput_mbps == 0.0
        assert estimate_throughput([Sample(0.0, 0)]).goodput_mbps == 0.0
        idle = estimate_throughput(sampled(lambda t: 0.0, 3.0))
        assert idle.goodput_mbps == 0.0

    def test_backwards_samples_are_refused(self) -> None:
        with pytest.raises(ValueError, match="backwards"):
            steady_state_window([Sample(0.0, 0), Sample(1.0, 10), Sample(2.0, 5)])

    def test_interpolation(self) -> None:
        samples = [Sample(0.0, 0), Sample(1.0, 100), Sample(2.0, 300)]
        assert cumulative_at(samples, 0.5) == 50.0
        assert cumulative_at(samples, 1.5) == 200.0
        assert cumulative_at(samples, 5.0) == 300.0
        assert cumulative_at(samples, -1.0) == 0.0


class TestMergeStreamTimelines:
    """Per-stream server timelines become one aggregate series on the server's clock."""

    def test_two_streams_offset_in_time(self) -> None:
        a = [[100.0, 0], [100.1, 1000], [100.2, 2000]]
        b = [[100.05, 0], [100.15, 500], [100.25, 1000]]
        merged = merge_stream_timelines([a, b])
        assert [s.t_s for s in merged.samples] == pytest.approx(
            [0.0, 0.05, 0.1, 0.15, 0.2, 0.25]
        )
        # At 100.15 stream a is halfway between 1000 and 2000 (linear), b is at 500.
        assert merged.samples[3].total_bytes == 1500 + 500
        assert merged.samples[-1].total_bytes == 3000
        assert merged.first_end_s == pytest.approx(0.2)

    @settings(max_examples=40, deadline=None)
    @given(
        rates=st.lists(st.integers(min_value=1, max_value=10**8), min_size=1, max_size=8),
        offsets=st.lists(st.floats(min_value=0.0, max_value=0.05), min_size=8, max_size=8),
    )
    def test_sum_of_constant_streams_is_their_total_rate(
        self, rates: list[int], offsets: list[float]
    ) -> None:
        timelines = []
        for i, rate in enumerate(rates):
            t0 = 50.0 + offsets[i]
            timelines.append([[t0 + k * 0.05, rate * k * 0.05] for k in range(0, 201)])
        merged = merge_stream_timelines(timelines)
        total_rate = sum(rates)
        est = estimate_throughput(merged.samples, merged.first_end_s)
        assert est.goodput_mbps == pytest.approx(mbps(total_rate), rel=1e-6, abs=1e-6)
        assert merged.samples[-1].total_bytes == pytest.approx(total_rate * 10.0, abs=len(rates))

    @pytest.mark.parametrize(
        ("timelines", "message"),
        [
            ([], "no upload stream"),
            ([[]], "no samples"),
            ([[[1.0, 5], [0.5, 6]]], "backwards"),
            ([[[1.0, 5], [2.0, 4]]], "backwards"),
            ([[[1.0]]], "is not"),
            ([[[1.0, -3]]], "negative"),
        ],
    )
    def test_malformed_timelines_are_protocol_violations(
        self, timelines: list[list[list[float]]], message: str
    ) -> None:
        with pytest.raises(ProtocolViolation, match=message):
            merge_stream_timelines(timelines)


class TestHeadOfLineBlocking:
    """Counts that lag the wire after a loss (bytes delivered late, in a burst) do not bias
    the rate when the lag falls on a window edge."""

    @staticmethod
    def lagging(rate: float, stalls: list[tuple[float, float]]) -> Callable[[float], float]:
        """Wire-level ``rate`` x t, minus what is held back during each (start, length) stall."""

        def cumulative(t: float) -> float:
            held = 0.0
            for start, length in stalls:
                if start <= t < start + length:
                    held += 0.7 * rate * (t - start)  # 70 % of the bytes wait behind a hole
            return rate * t - held

        return cumulative

    def test_stalls_at_both_edges(self) -> None:
        rate = 2_500_000  # 20 Mbit/s
        # Stalls of one RTO straddling the nominal window start (1.0 s) and end (5.0 s).
        samples = sampled(self.lagging(rate, [(0.85, 0.3), (4.75, 0.3)]), 5.0)
        start, end = steady_state_window(samples)
        naive = (cumulative_at(samples, end) - cumulative_at(samples, start)) / (end - start)
        assert abs(mbps(naive) / 20.0 - 1) > 0.03  # the plain edges are off by > 3 %
        est = estimate_throughput(samples)
        assert est.goodput_mbps == pytest.approx(20.0, rel=1e-9)
        assert est.window_start_s >= 1.15 - 1e-9  # moved past the stall
        assert est.window_end_s <= 4.75 + 1e-9

    @settings(max_examples=40, deadline=None)
    @given(
        starts=st.lists(st.floats(min_value=0.0, max_value=9.5), min_size=0, max_size=6),
        length=st.floats(min_value=0.05, max_value=0.35),
    )
    def test_random_stalls_never_cost_more_than_half_a_percent(
        self, starts: list[float], length: float
    ) -> None:
        stalls = sorted((s, length) for s in starts)
        merged: list[tuple[float, float]] = []
        for s, n in stalls:  # non-overlapping stalls: one hole at a time
            if not merged or s >= merged[-1][0] + merged[-1][1]:
                merged.append((s, n))
        samples = sampled(self.lagging(12_500_000, merged), 10.0)
        est = estimate_throughput(samples)
        assert est.goodput_mbps == pytest.approx(100.0, rel=0.005)
