"""The adaptive-length stop rule driven by synthetic cumulative byte samples (100 ms ticks)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from statistics import fmean

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probe.engine.autostop import (
    AutoDuration,
    AutoStop,
    StopDecision,
    _t975,
    batch_statistics,
    check,
)
from probe.engine.throughput import estimate_throughput
from probe.errors import UsageError
from probe.measurement import Sample

RULE = AutoDuration()
MBPS100 = 12_500_000.0  # bytes/s


def series(count: Callable[[float], float], until_s: float = 15.0, step_s: float = 0.1,
           jitter: Sequence[float] = ()) -> list[Sample]:
    """Samples of a cumulative count at ``step_s`` ticks (each late by ``jitter[i]``)."""
    out = [Sample(0.0, 0)]
    i = 1
    while i * step_s <= until_s + 1e-9:
        t = i * step_s + (jitter[i % len(jitter)] if jitter else 0.0)
        out.append(Sample(t, max(out[-1].total_bytes, round(count(t)))))
        i += 1
    return out


def first_stop(samples: Sequence[Sample], rule: AutoDuration = RULE
               ) -> tuple[float, StopDecision] | None:
    """Feed the samples one tick at a time, as the client does; when the rule first says stop."""
    stop = AutoStop(rule, check_every_s=0.2)  # as often as the client asks
    for i in range(2, len(samples) + 1):
        if samples[i - 1].t_s > rule.ceiling_s:
            return None
        if stop.update(samples[:i]):
            assert stop.last is not None
            return samples[i - 1].t_s, stop.last
    return None


def noisy_count(rate: float, noise: float, seed: int, stall_every_s: float = 0.0,
                stall_s: float = 0.3) -> Callable[[float], float]:
    """A line at ``rate`` whose count lags the wire by a random amount (head-of-line blocking
    and read batching), never leads it: count(t) = rate·t − lag(t), lag >= 0."""
    rnd = random.Random(seed)
    lags: dict[int, float] = {}

    def count(t: float) -> float:
        tick = round(t * 10)
        if tick not in lags:
            lag = rnd.random() * noise * rate * 0.1
            if stall_every_s and rnd.random() < 0.1 / stall_every_s:
                lag += rate * stall_s * rnd.random()
            lags[tick] = lag
        return max(0.0, rate * t - lags[tick])

    return count


class TestCleanLine:
    def test_a_steady_line_stops_soon_after_the_floor_with_the_exact_rate(self) -> None:
        stopped = first_stop(series(lambda t: MBPS100 * t))
        assert stopped is not None
        t, decision = stopped
        assert RULE.floor_s <= t <= 4.5
        assert decision.verdict == "steady"
        assert decision.rate_mbps == pytest.approx(100.0, rel=1e-6)
        assert decision.precision == pytest.approx(0.0, abs=1e-9)

    def test_slow_start_then_steady_stops_only_once_steady(self) -> None:
        # Exponential slow start for 1.5 s up to the line rate, then the line.
        ramp_s = 1.5

        def count(t: float) -> float:
            if t < ramp_s:
                return MBPS100 * 0.2 * (2 ** (t / 0.15) - 1) / 2 ** (ramp_s / 0.15) * 10
            return MBPS100 * 0.2 * (1 - 2 ** (-ramp_s / 0.15)) * 10 + MBPS100 * (t - ramp_s)

        stopped = first_stop(series(count))
        assert stopped is not None
        t, decision = stopped
        assert decision.rate_mbps == pytest.approx(100.0, rel=0.005)
        assert t < 6.0

    def test_a_stationary_line_with_small_lags_stops_early_and_reads_the_line(self) -> None:
        for seed in range(5):
            stopped = first_stop(series(noisy_count(MBPS100, 0.05, seed)))
            assert stopped is not None
            t, decision = stopped
            assert t <= 5.0
            assert decision.rate_mbps == pytest.approx(100.0, rel=0.01)


class TestRampsDoNotStop:
    def test_a_rate_still_climbing_never_stops(self) -> None:
        # Congestion avoidance still opening the window: +3 % per second for the whole run.
        assert first_stop(series(lambda t: MBPS100 * (t + 0.015 * t * t))) is None

    def test_a_climb_that_ends_never_stops_on_the_climb(self) -> None:
        # +5 %/s for 6 s, then flat at 1.3 x: the estimator's window (its 10 % band) keeps
        # part of the climb, so the drift never falls within 1 % and the run goes to the
        # ceiling, where the figure is the estimator's as for a fixed-length test.
        top_s, slope = 6.0, 0.05

        def count(t: float) -> float:
            if t < top_s:
                return MBPS100 * (t + slope * t * t / 2)
            return MBPS100 * (top_s + slope * top_s ** 2 / 2 + (1 + slope * top_s) * (t - top_s))

        stopped = first_stop(series(count))
        if stopped is not None:
            assert stopped[0] > top_s
            assert stopped[1].rate_mbps == pytest.approx(130.0, rel=0.01)

    def test_a_sender_count_that_fills_a_deep_queue_does_not_stop_while_it_fills(self) -> None:
        # Counted by the sender, a deep queue (0.6 s of the line) filling with a 2 s time
        # constant runs ahead of the line by a decaying excess: 30 % at first, 1 % at 6.8 s.
        queue_s, tau_s = 0.6, 2.0

        def count(t: float) -> float:
            return MBPS100 * (t + queue_s * (1 - math.exp(-t / tau_s)))

        stopped = first_stop(series(count))
        if stopped is not None:
            t, decision = stopped
            assert t > 6.8  # the excess is below 1 % from here on
            assert decision.rate_mbps == pytest.approx(100.0, rel=0.01)

    def test_a_boost_that_ends_before_the_floor_is_not_reported(self) -> None:
        # A PowerBoost-like bucket: 150 for 1.5 s, then 100 for good.
        def count(t: float) -> float:
            return MBPS100 * (1.5 * t if t < 1.5 else 2.25 + (t - 1.5))

        stopped = first_stop(series(count))
        assert stopped is not None
        assert stopped[1].rate_mbps == pytest.approx(100.0, rel=0.01)

    def test_a_change_after_the_floor_cannot_be_foreseen(self) -> None:
        # The documented limit: a rate steady for the whole floor and changing later (a boost
        # lasting 3.5 s) is reported as it was when the rule stopped; a longer floor sees it.
        def count(t: float) -> float:
            return MBPS100 * (1.5 * t if t < 3.5 else 5.25 + (t - 3.5))

        stopped = first_stop(series(count))
        assert stopped is not None
        assert stopped[1].rate_mbps == pytest.approx(150.0, rel=0.01)
        later = first_stop(series(count), AutoDuration(floor_s=6.0))
        assert later is not None
        assert later[1].rate_mbps == pytest.approx(100.0, rel=0.01)

    @settings(max_examples=6, deadline=None)
    @given(slope=st.floats(min_value=0.01, max_value=0.2),
           rate=st.floats(min_value=1e5, max_value=1e9))
    def test_no_linear_climb_of_1_percent_per_second_or_more_ever_stops(
        self, slope: float, rate: float
    ) -> None:
        assert first_stop(series(lambda t: rate * (t + slope * t * t / 2))) is None


class TestNoisyLinesAndStalls:
    def test_a_noisy_line_runs_to_the_ceiling(self) -> None:
        # Rates that wander +-20 % from one 0.5 s to the next: never known to 1 %.
        rnd = random.Random(7)
        levels = [MBPS100 * (1 + rnd.uniform(-0.2, 0.2)) for _ in range(40)]

        def count(t: float) -> float:
            whole = int(t / 0.5)
            return sum(levels[:whole]) * 0.5 + levels[whole] * (t - whole * 0.5)

        assert first_stop(series(count)) is None

    def test_a_stall_is_never_cut_at_its_start(self) -> None:
        # Steady until 4.0 s, then nothing for 0.6 s (head-of-line blocking), then it catches up.
        def count(t: float) -> float:
            if 4.0 <= t < 4.6:
                return MBPS100 * 4.0
            return MBPS100 * t

        samples = series(count, until_s=6.0)
        for i, s in enumerate(samples):
            if 4.0 < s.t_s < 4.6:
                decision = check(samples[:i + 1], RULE)
                assert not decision.stop, (s.t_s, decision)

    def test_a_stall_at_the_end_blocks_even_an_otherwise_precise_window(self) -> None:
        samples = series(lambda t: MBPS100 * min(t, 5.0) + MBPS100 * 0.0, until_s=5.2)
        assert check(samples[:51], RULE).stop  # up to 5.0 s: clean
        assert check(samples, RULE).verdict == "lagging"

    def test_never_before_the_floor(self) -> None:
        samples = series(lambda t: MBPS100 * t)
        for i in range(2, len(samples)):
            if samples[i - 1].t_s < RULE.floor_s:
                assert check(samples[:i], RULE) == StopDecision(False, "floor")

    def test_an_empty_or_dead_series_never_stops(self) -> None:
        assert not check([], RULE).stop
        assert not check(series(lambda t: 0.0), RULE).stop

    def test_stops_are_unbiased_against_a_fixed_10_s_test(self) -> None:
        # Stationary lines whose count lags by random stalls: the mean error of the stopped
        # figures is as small as that of fixed 10 s figures (no selection of high or low runs).
        auto, fixed, lengths = [], [], []
        for seed in range(30):
            count = noisy_count(MBPS100, 0.3, seed, stall_every_s=2.0)
            samples = series(count)
            stopped = first_stop(samples)
            t = RULE.ceiling_s if stopped is None else stopped[0]
            lengths.append(t)
            auto.append(estimate_throughput([s for s in samples if s.t_s <= t]).goodput_mbps
                        / 100 - 1)
            fixed.append(estimate_throughput([s for s in samples if s.t_s <= 10.0])
                         .goodput_mbps / 100 - 1)
        assert abs(fmean(auto)) < 0.003
        assert abs(fmean(auto)) < abs(fmean(fixed)) + 0.002
        assert max(abs(e) for e in auto) < 0.01
        assert fmean(lengths) < 10.0


class TestStatistics:
    def test_student_t_quantiles(self) -> None:
        for df, exact in ((3, 3.182446), (4, 2.776445), (9, 2.262157), (29, 2.045230)):
            assert _t975(df) == pytest.approx(exact, rel=0.003)

    def test_precision_of_known_batches(self) -> None:
        # Batch rates alternate 99/101 (negative autocorrelation is not credited): the
        # half-width is t(3) * s / sqrt(4) with s = stdev(99, 101, 99, 101).
        rates = [99.0, 101.0, 99.0, 101.0]
        counts = [0.0]
        for r in rates:
            counts.append(counts[-1] + r * 0.5)
        samples = [Sample(i * 0.5, round(c * 1e6)) for i, c in enumerate(counts)]
        stats = batch_statistics(samples, 0.0, 2.0)
        assert stats is not None
        assert stats.batches == 4
        spread = (4 / 3) ** 0.5
        assert stats.precision == pytest.approx(_t975(3) * spread / 2 / 100, rel=1e-3)
        assert stats.drift == pytest.approx(0.016, rel=1e-3)  # slope 0.4/batch x 4 batches / 100

    def test_too_short_a_window_has_no_statistics(self) -> None:
        assert batch_statistics(series(lambda t: MBPS100 * t, until_s=2.0), 0.5, 2.0) is None


class TestSettings:
    @pytest.mark.parametrize("kwargs", [
        {"floor_s": 0}, {"floor_s": 1.0}, {"ceiling_s": 2.5}, {"tolerance": 0.0},
        {"tolerance": 1.0}, {"floor_s": float("nan")}, {"ceiling_s": True},
    ])
    def test_nonsense_is_a_usage_error(self, kwargs: dict[str, float]) -> None:
        with pytest.raises(UsageError):
            AutoDuration(**kwargs)

    def test_a_wider_tolerance_stops_sooner_on_a_noisy_line(self) -> None:
        samples = series(noisy_count(MBPS100, 1.0, 3, stall_every_s=1.0))
        strict = first_stop(samples)
        loose = first_stop(samples, AutoDuration(tolerance=0.05))
        assert loose is not None
        assert strict is None or loose[0] <= strict[0]
