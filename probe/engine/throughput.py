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
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from statistics import median
from typing import Final

from probe.errors import ProtocolViolation
from probe.measurement import Sample
from probe.units import mbps_from_bytes

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


@dataclass(frozen=True, slots=True)
class MergedTimeline:
    """Per-stream server timelines summed into one series on a common time base.

    ``samples`` start at 0 s = ``origin_s``, the earliest first sample of any stream on the
    server's clock; ``first_end_s`` is the last sample time of the stream that ended first
    (after it, not all streams were running) and ``all_started_s`` the first sample time of
    the stream that started last (before it, not all were running either).
    """

    samples: tuple[Sample, ...]
    first_end_s: float
    origin_s: float = 0.0
    all_started_s: float = 0.0


def check_samples(samples: Sequence[Sample]) -> None:
    """Raise ValueError unless times and counts never go backwards."""
    for prev, cur in pairwise(samples):
        if cur.t_s < prev.t_s or cur.total_bytes < prev.total_bytes:
            raise ValueError(f"samples go backwards at t={cur.t_s!r}")


def cumulative_at(samples: Sequence[Sample], t_s: float) -> float:
    """Cumulative bytes at ``t_s``, linearly interpolated; clamped outside the samples."""
    if not samples:
        return 0.0
    times = [s.t_s for s in samples]
    return _interpolate(times, [s.total_bytes for s in samples], t_s)


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
        return _interpolate(times, counts, t1) - _interpolate(times, counts, t0)

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
    at = {t: _interpolate(times, counts, t) for t in (*starts, *ends)}
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
    first, last = _interpolate(times, counts, start_s), _interpolate(times, counts, end_s)
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
    moved = _interpolate(times, counts, end_s) - _interpolate(times, counts, start_s)
    if moved <= 0:
        return 0.0
    rate = moved / (end_s - start_s)
    allowance = rate * (CATCH_UP_SPAN_S + READ_BATCH_ALLOWANCE_S)
    burst = max((c - _interpolate(times, counts, t - CATCH_UP_SPAN_S) - allowance
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


def merge_stream_timelines(timelines: Sequence[Sequence[Sequence[float]]]) -> MergedTimeline:
    """Sum per-stream ``[[t_server_s, cumulative_bytes], ...]`` into one aggregate series.

    All timelines are on one server monotonic clock. Each stream's count is *linearly*
    interpolated between its own samples (bytes arrive continuously; a step function would
    under-count every stream by up to one server sample interval at any instant that falls
    between its samples), is 0 before its first sample and holds its last value after its end.
    The sum of piecewise-linear functions is piecewise linear with knots at the union of the
    sample times, so evaluating at that union is exact, not an approximation.
    Raises ProtocolViolation for timelines that are empty, malformed or go backwards.
    """
    streams: list[tuple[list[float], list[float]]] = []
    for index, timeline in enumerate(timelines):
        times: list[float] = []
        counts: list[float] = []
        for point in timeline:
            if len(point) != 2:
                raise ProtocolViolation(
                    f"upload stream {index}: sample {point!r} is not [t, bytes]"
                )
            t, b = float(point[0]), float(point[1])
            if times and (t < times[-1] or b < counts[-1]):
                raise ProtocolViolation(f"upload stream {index}: server samples go backwards")
            if b < 0:
                raise ProtocolViolation(f"upload stream {index}: negative byte count")
            times.append(t)
            counts.append(b)
        if not times:
            raise ProtocolViolation(f"upload stream {index}: the server sent no samples")
        streams.append((times, counts))
    if not streams:
        raise ProtocolViolation("no upload stream timelines to merge")
    origin = min(times[0] for times, _ in streams)
    knots = sorted({t for times, _ in streams for t in times})
    merged = []
    for t in knots:
        # A stream may step at t (two samples at one time: its count just before and after
        # a read that followed a stall); the sum then steps too, and keeps both values.
        before = after = 0.0
        for times, counts in streams:
            if t >= times[0]:
                before += _interpolate_left(times, counts, t)
                after += _interpolate(times, counts, t)
        if round(before) != round(after):
            merged.append(Sample(t - origin, round(before)))
        merged.append(Sample(t - origin, round(after)))
    first_end = min(times[-1] for times, _ in streams) - origin
    last_start = max(times[0] for times, _ in streams) - origin
    return MergedTimeline(tuple(merged), first_end, origin, last_start)


def _interpolate_left(times: Sequence[float], values: Sequence[float], t: float) -> float:
    """Like :func:`_interpolate`, but at a time sampled twice, the first value."""
    i = bisect_left(times, t)
    if i < len(times) and times[i] == t:
        return float(values[i])
    return _interpolate(times, values, t)


def _interpolate(times: Sequence[float], values: Sequence[float], t: float) -> float:
    """The count at ``t`` from sorted ``times``, linear between samples, clamped outside."""
    if t <= times[0]:
        return float(values[0])
    if t >= times[-1]:
        return float(values[-1])
    i = bisect_right(times, t)
    t0, t1 = times[i - 1], times[i]
    v0, v1 = values[i - 1], values[i]
    if t1 == t0:
        return float(v1)
    return float(v0 + (v1 - v0) * (t - t0) / (t1 - t0))


# For other estimators that already hold the samples as two sorted lists.
interpolate_count = _interpolate
