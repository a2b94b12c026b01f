"""Throughput estimators: the steady-state window and goodput over it, from byte-count samples.

Input is an aggregate series of :class:`~probe.measurement.Sample` (seconds since the direction
started, cumulative payload bytes over all streams), taken at <= 100 ms intervals on a monotonic
clock by an adapter. Nothing here reads a clock.

**Warm-up rule** (documented in docs/measurement.md, "Steady-state window"): TCP slow start,
a shaper's initial token-bucket burst and the loss recovery that follows slow start's overshoot
make the first moments unrepresentative, so the window starts at the first sample ``t`` such that

* ``t >= MIN_WARMUP_S`` and ``t >= RATE_LOOKBACK_S``, and
* from ``t`` on (up to the latest allowed start), the rate over each sample's preceding
  ``RATE_LOOKBACK_S`` stays within ±``STABLE_BAND`` (10 %) of the *reference rate*: the median
  of those trailing rates over the samples in the second half of the run (past any slow start
  on any path we care about). A catch-up burst above the band means bytes were held back
  before it, a dip below it means the path was not yet full;

and never later than ``MAX_WARMUP_SHARE`` (50 %) of the usable duration, so that at least half
of the run is always considered. The window ends at ``end_s``: the last sample, or earlier when a
stream stopped early (``all_running_until_s``), because after that fewer streams are running
and the path is not being filled the way the plan said.

Goodput = payload bytes moved x 8 / time between the window's two edges, in Mbit/s (10^6
bit/s); each edge is first moved (by at most ``EDGE_SEARCH_S`` inward) to where the count has
caught up after head-of-line blocking (:func:`caught_up_edges`): a point on the upper envelope
of the cumulative count, since counts only ever lag the wire. Cumulative counts between
samples are linearly interpolated.

**Steady or not** (:func:`lead_share`): on a steady line the count between two caught-up
edges never runs ahead of the straight line joining them. If it does by more than
``UNSTEADY_SHARE`` of the window's bytes, an edge was still held back (the reading is off by
about that much, in either direction) or the rate itself changed. And if the count anywhere
in the window catches up by more than ``CATCH_UP_SHARE`` of the window's bytes
within ``CATCH_UP_SPAN_S`` (:func:`catch_up_share`), that much was held back at some moment,
so an edge may have been too, undetectably when the window is short (a 2 Mbit/s download
behind a 0.6 s queue held half a second of the line back across its whole window). Either
way the estimate says so (``steady`` False) and the record is flagged ``unsteady``. So is a
window shorter than ``MIN_STEADY_WINDOW_S`` (1 s, ten samples): runs of 2 s or less are never
evidence.

Reading a count between its samples is :mod:`probe.engine.counts`; the server's per-stream
upload timelines are summed by :mod:`probe.engine.timelines`. Both lived here, and their
public names are re-exported.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median
from typing import Final

from probe.engine.counts import check_samples, cumulative_at, interpolate_count
from probe.engine.timelines import MergedTimeline, merge_stream_timelines
from probe.measurement import Sample
from probe.units import mbps_from_bytes

# Re-exported: the count readers and the server timelines lived here; callers import them so.
__all__ = [
    "MergedTimeline",
    "ThroughputEstimate",
    "catch_up_share",
    "caught_up_edges",
    "check_samples",
    "cumulative_at",
    "estimate_throughput",
    "goodput_over",
    "interpolate_count",
    "lead_share",
    "merge_stream_timelines",
    "steady_state_window",
]

RATE_LOOKBACK_S: Final = 0.5
STABLE_BAND: Final = 0.1
MIN_WARMUP_S: Final = 1.0
MAX_WARMUP_SHARE: Final = 0.5
EDGE_SEARCH_S: Final = 2.0
EDGE_SEARCH_SHARE: Final = 0.25
EDGE_ITERATIONS: Final = 5
UNSTEADY_SHARE: Final = 0.015
# A window shorter than this is never steady: with 100 ms samples and read batches its edges
# carry too much of the count's lag for lead and catch-up to see. Lab, 20 Mbit/s tbf, 10
# rounds each (docs/measurement.md): 2 s runs had windows of 0.5-0.99 s and read up to
# -8.8 % unflagged; 3 s runs had windows of 0.9-1.94 s, all within 0.5 %.
MIN_STEADY_WINDOW_S: Final = 1.0
CATCH_UP_SHARE: Final = 0.02
CATCH_UP_SPAN_S: Final = 0.5
# Counts are read in batches (the server's 100 ms poller, the client's 100 ms tick): one
# batch more in a span is not a catch-up.
READ_BATCH_ALLOWANCE_S: Final = 0.1


@dataclass(frozen=True, slots=True)
class ThroughputEstimate:
    """Goodput over the steady-state window ``[window_start_s, window_end_s]``."""

    goodput_mbps: float
    window_start_s: float
    window_end_s: float
    window_bytes: int
    total_bytes: int
    # How far the count ran ahead of the line between the edges, as a share of window_bytes.
    lead_share: float = 0.0
    # The largest catch-up burst around the window, as a share of window_bytes.
    catch_up_share: float = 0.0

    @property
    def steady(self) -> bool:
        """A window that shows a steady rate (see the module docstring)."""
        return (self.lead_share <= UNSTEADY_SHARE and self.catch_up_share <= CATCH_UP_SHARE
                and self.window_bytes > 0
                and self.window_end_s - self.window_start_s >= MIN_STEADY_WINDOW_S)


def steady_state_window(
    samples: Sequence[Sample], all_running_until_s: float | None = None,
    all_running_from_s: float = 0.0,
) -> tuple[float, float]:
    """The ``(start_s, end_s)`` of the steady-state window by the rule in the module docstring.

    ``all_running_from_s``: before it not every stream had started; the warm-up counts from it.
    """
    check_samples(samples)
    if len(samples) < 2:
        t = samples[0].t_s if samples else 0.0
        return (t, t)
    end_s = samples[-1].t_s
    if all_running_until_s is not None:
        end_s = max(samples[0].t_s, min(end_s, all_running_until_s))
    origin = min(max(samples[0].t_s, all_running_from_s), end_s)
    usable = [s for s in samples if s.t_s <= end_s]
    times = [s.t_s for s in usable]
    counts = [float(s.total_bytes) for s in usable]
    latest_start = origin + MAX_WARMUP_SHARE * (end_s - origin)
    earliest_start = origin + max(MIN_WARMUP_S, RATE_LOOKBACK_S)
    if earliest_start >= latest_start:
        return (latest_start, end_s)

    def bytes_between(t0: float, t1: float) -> float:
        return interpolate_count(times, counts, t1) - interpolate_count(times, counts, t0)

    def trailing_rate(t: float) -> float:
        return bytes_between(t - RATE_LOOKBACK_S, t) / RATE_LOOKBACK_S

    second_half = [t for t in times if t >= latest_start and t - RATE_LOOKBACK_S >= origin]
    if second_half:
        reference = median(trailing_rate(t) for t in second_half)
    else:
        reference = bytes_between(latest_start, end_s) / (end_s - latest_start)
    low, high = (1 - STABLE_BAND) * reference, (1 + STABLE_BAND) * reference
    candidates = times[bisect_left(times, earliest_start):bisect_right(times, latest_start)]
    start = None
    for t in candidates:
        if low <= trailing_rate(t) <= high:
            if start is None:
                start = t
        else:
            start = None  # not stable yet: the window can start only after this sample
    return (latest_start if start is None else start, end_s)


def goodput_over(samples: Sequence[Sample], start_s: float, end_s: float) -> tuple[float, int]:
    """``(Mbit/s, bytes)`` between the caught-up edges of ``[start_s, end_s]``.

    See :func:`caught_up_edges`; the rate is plain Δbytes x 8 / Δt between those two edges.
    """
    edge_start, edge_end = caught_up_edges(samples, start_s, end_s)
    if edge_end <= edge_start:
        return (0.0, 0)
    moved = cumulative_at(samples, edge_end) - cumulative_at(samples, edge_start)
    return (mbps_from_bytes(moved, edge_end - edge_start), round(moved))


def caught_up_edges(
    samples: Sequence[Sample], start_s: float, end_s: float
) -> tuple[float, float]:
    """Window edges placed where the application's count has caught up with the wire.

    TCP hands bytes to the application late, never early: after a loss, everything behind the
    hole waits in the kernel until the retransmission arrives (head-of-line blocking; stalls
    of one RTO, ~0.2-0.3 s and ~0.1 s of a 20 Mbit/s link's bytes, were seen in the lab, and
    on a 2 Mbit/s line behind a 0.6 s queue loss recovery held bytes back for up to a second).
    A count read at an arbitrary instant can therefore lag the bytes that crossed the line by
    a whole stall, which at a window edge is an error of several percent. Within
    ``EDGE_SEARCH_S`` inward of each nominal edge (at most ``EDGE_SEARCH_SHARE`` of the span),
    the edge is moved to the sample where ``count - rate x t`` is highest: the moment when
    least is held back, a point on the upper envelope of the count. ``rate`` starts as the
    nominal window's mean and is re-taken between the moved edges until they stay put (a
    lagging nominal edge biases the first rate). A constant rate keeps its edges.
    """
    if end_s <= start_s or len(samples) < 2:
        return (start_s, end_s)
    times = [s.t_s for s in samples]
    counts = [float(s.total_bytes) for s in samples]
    reach = min(EDGE_SEARCH_S, (end_s - start_s) * EDGE_SEARCH_SHARE)
    starts = [start_s, *(t for t in times if start_s < t < start_s + reach)]
    ends = [end_s, *(t for t in times if end_s - reach < t < end_s)]
    at = {t: interpolate_count(times, counts, t) for t in (*starts, *ends)}
    edges = (start_s, end_s)
    for _ in range(EDGE_ITERATIONS):
        rate = (at[edges[1]] - at[edges[0]]) / (edges[1] - edges[0])
        # max() keeps the first of equals, so a constant rate keeps its nominal edges.
        moved = (max(starts, key=lambda t: at[t] - rate * t),
                 max(ends, key=lambda t: at[t] - rate * t))
        if moved == edges or moved[1] <= moved[0]:
            break
        edges = moved
    return edges


def lead_share(samples: Sequence[Sample], start_s: float, end_s: float) -> float:
    """How far the count runs ahead of the straight line through the window's edges.

    The largest ``count(t) - line(t)`` over the samples inside the window, as a share of the
    bytes between the edges; 0 when it never runs ahead. Counts only lag the wire, so on a
    steady line this is ~0 between caught-up edges; see the module docstring. (Samples after
    the end were tried too: on loopback, where the rate is the CPU's and rises once the
    window's sampling stops, 1 s runs were then flagged 7 times in 8.)
    """
    if end_s <= start_s or len(samples) < 2:
        return 0.0
    times = [s.t_s for s in samples]
    counts = [float(s.total_bytes) for s in samples]
    first, last = interpolate_count(times, counts, start_s), interpolate_count(times, counts, end_s)
    moved = last - first
    if moved <= 0:
        return 0.0
    rate = moved / (end_s - start_s)
    lead = max((c - first - rate * (t - start_s)
                for t, c in zip(times, counts, strict=True)
                if start_s < t < end_s),
               default=0.0)
    return max(0.0, lead) / moved


def catch_up_share(samples: Sequence[Sample], start_s: float, end_s: float) -> float:
    """The largest burst above the window's rate, within ``CATCH_UP_SPAN_S``, as a share.

    ``max(count(t) - count(t - span) - rate x span)`` over the samples between the edges,
    divided by the bytes between them (after the end an upload drains, and its tail is
    released in bursts that say nothing about the window). A burst above the
    line's rate is bytes that had been held back; see the module docstring.
    """
    if end_s <= start_s or len(samples) < 2:
        return 0.0
    times = [s.t_s for s in samples]
    counts = [float(s.total_bytes) for s in samples]
    moved = interpolate_count(times, counts, end_s) - interpolate_count(times, counts, start_s)
    if moved <= 0:
        return 0.0
    rate = moved / (end_s - start_s)
    allowance = rate * (CATCH_UP_SPAN_S + READ_BATCH_ALLOWANCE_S)
    burst = max((c - interpolate_count(times, counts, t - CATCH_UP_SPAN_S) - allowance
                 for t, c in zip(times, counts, strict=True)
                 if start_s + CATCH_UP_SPAN_S <= t <= end_s),
                default=0.0)
    return max(0.0, burst) / moved


def estimate_throughput(
    samples: Sequence[Sample], all_running_until_s: float | None = None,
    all_running_from_s: float = 0.0,
) -> ThroughputEstimate:
    """Goodput over the steady-state window of ``samples`` (edges as reported are caught up).

    The window starts at the earliest sample from ``MIN_WARMUP_S`` on whose window is steady
    (:func:`lead_share`) and reads within ``UNSTEADY_SHARE`` of the rule's window, if that is
    earlier than the warm-up rule's start: on slow lines the
    0.5 s trailing rates the rule compares scatter by more than its band (a few packets each),
    it falls back to half the run, and a short window's edges weigh the count's per-packet
    steps (a 0.5 Mbit/s window of 2 s is ~80 packets) too heavily.
    """
    start_s, end_s = steady_state_window(samples, all_running_until_s, all_running_from_s)
    total = samples[-1].total_bytes if samples else 0
    best = _estimate_from(samples, start_s, end_s, total)
    origin = min(max(samples[0].t_s, all_running_from_s), end_s) if samples else 0.0
    for t in (s.t_s for s in samples):
        if t >= start_s:
            break
        if t < origin + MIN_WARMUP_S:
            continue
        candidate = _estimate_from(samples, t, end_s, total)
        # A steady longer window, and one that agrees with the rule's: a slow start inside
        # it would sag below its line, which the lead test cannot see, and read low.
        if candidate.steady and best.goodput_mbps > 0 and \
                abs(candidate.goodput_mbps / best.goodput_mbps - 1) <= UNSTEADY_SHARE:
            return candidate
    return best


def _estimate_from(samples: Sequence[Sample], start_s: float, end_s: float,
                   total: int) -> ThroughputEstimate:
    edge_start, edge_end = caught_up_edges(samples, start_s, end_s)
    rate_mbps, window_bytes = goodput_over(samples, start_s, end_s)
    return ThroughputEstimate(rate_mbps, edge_start, edge_end, window_bytes, total,
                              lead_share(samples, edge_start, edge_end),
                              catch_up_share(samples, edge_start, edge_end))
