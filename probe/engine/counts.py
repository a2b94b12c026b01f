"""Reading a cumulative byte count between and over its samples.

A direction's count is a series of :class:`~probe.measurement.Sample` (seconds since the
direction started, cumulative payload bytes), taken by an adapter on a monotonic clock. This
module owns how that series is read: that it never goes backwards (:func:`check_samples`),
the count at any moment, linear between samples and clamped outside them
(:func:`cumulative_at`, :func:`interpolate_count`), and the rate over its most recent span
(:func:`recent_rate`). The estimators (:mod:`probe.engine.throughput`,
:mod:`probe.engine.autostop`, :mod:`probe.engine.arrivals`), the stream-count rule and the
client's upload tick read counts through it. Nothing here reads a clock.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from itertools import pairwise

from probe.measurement import Sample


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
    return interpolate_count(times, [s.total_bytes for s in samples], t_s)


def interpolate_count(times: Sequence[float], values: Sequence[float], t: float) -> float:
    """The count at ``t`` from sorted ``times``, linear between samples, clamped outside.

    For estimators that already hold the samples as two sorted lists.
    """
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


def recent_rate(samples: Sequence[Sample], span_s: float = 0.5) -> float | None:
    """Bytes per second over the last ``span_s`` of ``samples`` (None if too few)."""
    if len(samples) < 2:
        return None
    last = samples[-1]
    first = next((s for s in samples if s.t_s >= last.t_s - span_s), samples[0])
    if last.t_s <= first.t_s:
        return None
    return (last.total_bytes - first.total_bytes) / (last.t_s - first.t_s)
