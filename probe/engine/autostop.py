"""Adaptive test length: whether one direction's steady rate is known well enough to stop.

``probe measure --duration auto`` (the agent's default) ends a direction as soon as the figure
the record will report is known to ±``tolerance`` (1 %), never before ``floor_s`` (3 s) and
never after ``ceiling_s`` (15 s). The rule is fed the same cumulative byte samples the
throughput estimator gets (:mod:`probe.engine.throughput`), as they arrive, and answers stop or
continue with the reason. It reads no clock and does no I/O; the adapter asks it at each
sample tick and stops the streams when it says so.

**The statistic.** At a check, the estimator's own steady-state window ``[a, b]`` (warm-up
discarded, caught-up edges) over the samples so far gives the rate ``r``. The window is cut,
into ``n = floor(length / BATCH_S)`` equal batches (0.5-1 s each); ``r_i`` is each batch's
rate. The **precision** is the relative half-width of the 95 % confidence interval of the
window's mean rate by the method of batch means, with lag-1 autocorrelation ``ρ`` of the batch
rates taken into account::

    precision = t(0.975, n - 1) * s / sqrt(n) * sqrt((1 + ρ) / (1 - ρ)) / r

(``s`` the batch rates' standard deviation, ``ρ`` clamped to [0, 0.9]: a negative ρ, which a
count that lags and then catches up produces, would narrow the interval, so it is ignored).
The **drift** is the least-squares slope of the batch rates times the window's length,
relative to ``r``: how much the rate changed across the window.

The direction **stops** at the first check where all of these hold:

1. at least ``floor_s`` has passed;
2. the window is steady by the estimator's own test (``ThroughputEstimate.steady``) and holds
   at least ``MIN_BATCHES`` batches (2 s);
3. ``precision <= tolerance`` (the rate is known to ±1 %);
4. ``|drift| <= tolerance``: a rate still climbing (TCP slow start, congestion avoidance
   after an overshoot, a queue still filling as counted by the sender) or falling (a
   PowerBoost-like bucket running dry) changes by more than that across the window;
5. the count is not lagging at this moment: it is within ``END_LAG_SHARE`` of the window's
   bytes of its upper envelope over the last ``END_LAG_SPAN_S``, and the last sample interval
   moved at least ``LAST_INTERVAL_SHARE`` of the window's rate. A stall (head-of-line
   blocking after a loss, a line that just dropped) is never cut at its start: what follows
   it tells whether bytes were held back or the rate fell.

Why this is not biased against a fixed-length test: on a steady line the window's rate is
unbiased at any length (its edges sit on the count's upper envelope, where nothing is held
back), and the stopping condition looks at the spread and the trend of the batch rates, not
at their level, so stopping when they are small selects no high or low readings. Condition 5
stops only where the count has caught up, which is where the estimator puts its end edge
anyway. What the rule cannot know is a change after it stops (cross-traffic starting at 8 s):
a 10 s test would have seen part of it.

At ``ceiling_s`` the adapter's deadline ends the direction whatever the rule says (reason
``ceiling``), and the figure is the estimator's as for any fixed-length test, flagged
``unsteady`` if its window was not steady.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Final, Literal

from probe.engine.counts import interpolate_count
from probe.engine.throughput import estimate_throughput
from probe.errors import UsageError
from probe.measurement import Sample
from probe.units import mbps_from_bytes

DEFAULT_FLOOR_S: Final = 3.0
DEFAULT_CEILING_S: Final = 15.0
DEFAULT_TOLERANCE: Final = 0.01
MAX_CEILING_S: Final = 30.0  # the plan's longest duration (probe.engine.plan.MAX_DURATION_S)
BATCH_S: Final = 0.5
BOUNDARY_SEARCH_S: Final = 0.2
MIN_BATCHES: Final = 4
MAX_AUTOCORRELATION: Final = 0.9
END_LAG_SPAN_S: Final = 1.0
END_LAG_SHARE: Final = 0.005
LAST_INTERVAL_SHARE: Final = 0.5
# z of a two-sided 95 % interval; Student's t is derived from it (see _t975).
_Z975: Final = 1.959963984540054

# Why a check said continue (the first condition that failed) or stop.
Verdict = Literal["floor", "short", "unsteady", "imprecise", "drift", "lagging", "steady"]


@dataclass(frozen=True, slots=True)
class AutoDuration:
    """The adaptive length's bounds and target: stop once known to ±``tolerance``."""

    floor_s: float = DEFAULT_FLOOR_S
    ceiling_s: float = DEFAULT_CEILING_S
    tolerance: float = DEFAULT_TOLERANCE

    def __post_init__(self) -> None:
        for name, value in (("floor", self.floor_s), ("ceiling", self.ceiling_s),
                            ("tolerance", self.tolerance)):
            if isinstance(value, bool) or not isinstance(value, int | float) \
                    or not math.isfinite(value) or value <= 0:
                raise UsageError(f"auto duration {name} must be a number > 0, got {value!r}")
        if self.floor_s < MIN_BATCHES * BATCH_S:
            raise UsageError(f"auto duration floor must be at least {MIN_BATCHES * BATCH_S:g} s "
                             f"(a window of {MIN_BATCHES} batches), got {self.floor_s:g}")
        if self.ceiling_s < self.floor_s:
            raise UsageError(f"auto duration ceiling ({self.ceiling_s:g} s) is below its floor "
                             f"({self.floor_s:g} s)")
        if self.tolerance >= 0.5:
            raise UsageError(f"auto duration tolerance is a share (0.01 = ±1 %), "
                             f"got {self.tolerance!r}")


def parse_auto(text: str) -> AutoDuration | None:
    """``auto`` (3-15 s) or ``auto:N`` (ceiling N s) as the CLI and the agent's config spell
    it; None for anything else (a number of seconds); UsageError for a bad ceiling."""
    word, _, ceiling = text.strip().lower().partition(":")
    if word != "auto":
        return None
    if not ceiling:
        return AutoDuration()
    try:
        ceiling_s = float(ceiling)
    except ValueError:
        raise UsageError(f"auto:N takes a ceiling in seconds, got {text!r}") from None
    if not math.isfinite(ceiling_s) or not DEFAULT_FLOOR_S <= ceiling_s <= MAX_CEILING_S:
        raise UsageError(f"the auto ceiling must be between {DEFAULT_FLOOR_S:g} and "
                         f"{MAX_CEILING_S:g} s, got {ceiling}")
    return AutoDuration(ceiling_s=ceiling_s)


@dataclass(frozen=True, slots=True)
class StopDecision:
    """One check's answer: stop or not, why, and the statistics behind it (None: not reached).

    ``precision`` and ``drift`` are shares of the rate (0.004 = ±0.4 %); ``rate_mbps`` is the
    estimator's figure over the samples so far.
    """

    stop: bool
    verdict: Verdict
    precision: float | None = None
    drift: float | None = None
    rate_mbps: float | None = None


@dataclass(frozen=True, slots=True)
class BatchStatistics:
    """The batch-means statistics of one window (see the module docstring)."""

    batches: int
    precision: float
    drift: float


def batch_statistics(samples: Sequence[Sample], start_s: float, end_s: float
                     ) -> BatchStatistics | None:
    """Precision and drift of the rate over ``[start_s, end_s]`` from ``BATCH_S`` batches.

    The whole window is cut into ``n = floor(length / BATCH_S)`` equal batches (each 0.5 to
    1 s): every byte the window's rate counts is in the statistic (a dip left out of the
    batches would be in the figure but not in its interval). Each boundary between two batches is
    then moved, by at most ``BOUNDARY_SEARCH_S``, to the sample where the count has caught up
    (the highest ``count - r x t``, as the estimator places its own edges): a count only lags
    the wire, and a lag that straddles a boundary would move bytes from one batch to the next
    and widen the interval with spread that the window's rate does not have. None when fewer
    than ``MIN_BATCHES`` fit or nothing moved.
    """
    n = int((end_s - start_s) / BATCH_S + 1e-9)
    if n < MIN_BATCHES:
        return None
    times = [s.t_s for s in samples]
    counts = [float(s.total_bytes) for s in samples]
    first_s = start_s
    batch_s = (end_s - start_s) / n
    total = interpolate_count(times, counts, end_s) - interpolate_count(times, counts, first_s)
    if total <= 0:
        return None
    rate = total / (end_s - first_s)

    def caught_up(nominal: float) -> float:
        near = [t for t in times[bisect_left(times, nominal - BOUNDARY_SEARCH_S):
                                 bisect_right(times, nominal + BOUNDARY_SEARCH_S)]]
        return max([nominal, *near],
                   key=lambda t: interpolate_count(times, counts, t) - rate * t)

    edges = [first_s, *(caught_up(first_s + batch_s * i) for i in range(1, n)), end_s]
    at = [interpolate_count(times, counts, t) for t in edges]
    spans = [t1 - t0 for t0, t1 in pairwise(edges)]
    rates = [(c1 - c0) / span for (c0, c1), span in zip(pairwise(at), spans, strict=True)]
    span_all = end_s - first_s
    # The window's rate is the span-weighted mean of the batch rates; its variance by the
    # ratio estimator, inflated for positive lag-1 autocorrelation.
    weights = [span / span_all for span in spans]
    variance = sum((w * (r - rate)) ** 2 for w, r in zip(weights, rates, strict=True)) \
        * n / (n - 1)
    rho = _lag1_autocorrelation(rates, rate)
    se = math.sqrt(variance * (1 + rho) / (1 - rho))
    mids = [(t0 + t1) / 2 for t0, t1 in pairwise(edges)]
    centre = sum(w * m for w, m in zip(weights, mids, strict=True))
    sxx = sum(w * (m - centre) ** 2 for w, m in zip(weights, mids, strict=True))
    slope = sum(w * (m - centre) * (r - rate)
                for w, m, r in zip(weights, mids, rates, strict=True)) / sxx  # per second
    return BatchStatistics(n, _t975(n - 1) * se / rate, slope * span_all / rate)


def check(samples: Sequence[Sample], settings: AutoDuration, *,
          all_running_from_s: float = 0.0) -> StopDecision:
    """Whether to stop now, given the direction's samples so far (see the module docstring).

    ``all_running_from_s``: before it not every stream had started (as for the estimator).
    """
    if not samples or samples[-1].t_s < settings.floor_s:
        return StopDecision(False, "floor")
    estimate = estimate_throughput(samples, None, all_running_from_s)
    rate = estimate.goodput_mbps
    stats = batch_statistics(samples, estimate.window_start_s, estimate.window_end_s)
    if stats is None:
        return StopDecision(False, "short", rate_mbps=rate)
    precision, drift = stats.precision, stats.drift

    def answer(verdict: Verdict) -> StopDecision:
        return StopDecision(verdict == "steady", verdict, precision, drift, rate)

    if not estimate.steady:
        return answer("unsteady")
    if precision > settings.tolerance:
        return answer("imprecise")
    if abs(drift) > settings.tolerance:
        return answer("drift")
    if _lagging(samples, estimate.window_bytes, rate):
        return answer("lagging")
    return answer("steady")


class AutoStop:
    """The rule bound to its settings, remembering its last answer (for the record).

    ``update`` is called with the whole sample series at each tick. A check costs about 1 ms
    on a steady line and up to ~10 ms on an unsteady one (150 samples, the estimator's
    earliest-start search), so it runs only every ``check_every_s`` of sample time.
    """

    def __init__(self, settings: AutoDuration, *, all_running_from_s: float = 0.0,
                 check_every_s: float = 0.0) -> None:
        self.settings = settings
        self.all_running_from_s = all_running_from_s
        self.check_every_s = check_every_s
        self.last: StopDecision | None = None
        self._checked_at_s = -math.inf

    def update(self, samples: Sequence[Sample]) -> bool:
        """True once the direction should stop (and from then on)."""
        if self.last is not None and self.last.stop:
            return True
        now_s = samples[-1].t_s if samples else 0.0
        if now_s < self._checked_at_s + self.check_every_s:
            return False
        self._checked_at_s = now_s
        self.last = check(samples, self.settings, all_running_from_s=self.all_running_from_s)
        return self.last.stop


def _lagging(samples: Sequence[Sample], window_bytes: int, rate_mbps: float) -> bool:
    """Whether the count at the last sample lags its recent upper envelope (a stall)."""
    if window_bytes <= 0 or rate_mbps <= 0 or len(samples) < 2:
        return True
    rate = rate_mbps * 1e6 / 8  # bytes per second
    last = samples[-1]
    envelope = max(s.total_bytes - rate * s.t_s for s in samples
                   if s.t_s >= last.t_s - END_LAG_SPAN_S)
    if envelope - (last.total_bytes - rate * last.t_s) > END_LAG_SHARE * window_bytes:
        return True
    previous = samples[-2]
    span = last.t_s - previous.t_s
    if span <= 0:
        return False
    recent = mbps_from_bytes(last.total_bytes - previous.total_bytes, span)
    return recent < LAST_INTERVAL_SHARE * rate_mbps


def _lag1_autocorrelation(values: Sequence[float], mean: float) -> float:
    """Lag-1 autocorrelation clamped to [0, MAX_AUTOCORRELATION] (0 for a constant series)."""
    var = sum((v - mean) ** 2 for v in values)
    if var <= 0:
        return 0.0
    cov = sum((a - mean) * (b - mean) for a, b in pairwise(values))
    return min(MAX_AUTOCORRELATION, max(0.0, cov / var))


def _t975(df: int) -> float:
    """Student's t quantile 0.975 for ``df`` degrees of freedom (Cornish-Fisher expansion;
    within 0.3 % of the exact value from df = 3 on: 3.18 at 3, 2.26 at 9, 2.04 at 30)."""
    z = _Z975
    g1 = (z ** 3 + z) / 4
    g2 = (5 * z ** 5 + 16 * z ** 3 + 3 * z) / 96
    g3 = (3 * z ** 7 + 19 * z ** 5 + 17 * z ** 3 - 15 * z) / 384
    g4 = (79 * z ** 9 + 776 * z ** 7 + 1482 * z ** 5 - 1920 * z ** 3 - 945 * z) / 92160
    return z + g1 / df + g2 / df ** 2 + g3 / df ** 3 + g4 / df ** 4

