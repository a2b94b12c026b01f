"""The server's per-stream upload timelines, summed into one aggregate series.

An upload is counted where it arrives: each stream's answer from the server carries its own
``[[t_server_s, cumulative_bytes], ...]`` timeline (:class:`probe.wire.UploadAnswer`), all on
the server's one monotonic clock. :func:`merge_stream_timelines` sums them exactly into the
aggregate :class:`~probe.measurement.Sample` series the throughput estimator reads, and says
when every stream was running (:class:`MergedTimeline`), which bounds the steady-state window
(:mod:`probe.engine.throughput`). Malformed timelines are the server's fault and raise
:class:`~probe.errors.ProtocolViolation`.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass

from probe.engine.counts import interpolate_count
from probe.errors import ProtocolViolation
from probe.measurement import Sample


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
                after += interpolate_count(times, counts, t)
        if round(before) != round(after):
            merged.append(Sample(t - origin, round(before)))
        merged.append(Sample(t - origin, round(after)))
    first_end = min(times[-1] for times, _ in streams) - origin
    last_start = max(times[0] for times, _ in streams) - origin
    return MergedTimeline(tuple(merged), first_end, origin, last_start)


def _interpolate_left(times: Sequence[float], values: Sequence[float], t: float) -> float:
    """Like :func:`~probe.engine.counts.interpolate_count`, but at a time sampled twice, the
    first value."""
    i = bisect_left(times, t)
    if i < len(times) and times[i] == t:
        return float(values[i])
    return interpolate_count(times, values, t)


def partials_cover(timelines: Sequence[Sequence[Sequence[float]]] | None,
                   partial: Sequence[int], fed_until_s: float | None,
                   server_origin_s: float) -> bool:
    """Whether every partial timeline (by index: the server's state of a stream so far, its
    answer being late) reaches ``fed_until_s``, when the client stopped feeding, on the
    server's clock (its 0 at ``server_origin_s`` on the client's; the earliest first sample).

    The window ends there at the latest, so up to there a partial timeline is what the answer
    would have said. ``server_origin_s`` is taken when the heads were sent, before the server
    stamps its first sample, so this asks for a little more than needed, never less.
    """
    if not partial:
        return True
    if timelines is None or fed_until_s is None or not all(timelines):
        return False
    origin_s = min(float(tl[0][0]) for tl in timelines)
    until_s = fed_until_s - server_origin_s
    return all(0 <= i < len(timelines) and float(timelines[i][-1][0]) - origin_s >= until_s
               for i in partial)
