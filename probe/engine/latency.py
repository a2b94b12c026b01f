"""Latency estimators: idle latency, jitter and loaded latency from round-trip times.

Round trips are application-level (``GET /ping`` -> 204) on a *warm* connection: the adapter
discards the round trip that opened the connection (TCP handshake, and for HTTPS TLS), so the
figures are the path's RTT plus HTTP handling, comparable with LibreSpeed's and Ookla's pings.

* idle latency = median of the round trips (robust to one scheduling hiccup); the minimum is
  kept too (Ookla and LibreSpeed report the minimum, ndt7 reports MinRTT);
* jitter = mean absolute difference of consecutive round trips (the IPDV-style definition that
  Cloudflare's speed test uses; LibreSpeed's asymmetric EWMA is not reproducible from a summary);
* loaded latency = median of the side-channel round trips taken while one direction's
  transfer ran (responsiveness under load, i.e. bufferbloat).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from statistics import median

from probe.measurement import LatencyResult


def jitter_ms(rtts_ms: Sequence[float]) -> float:
    """Mean |RTT[i] - RTT[i-1]| over consecutive round trips; 0 for fewer than two."""
    if len(rtts_ms) < 2:
        return 0.0
    diffs = [abs(b - a) for a, b in pairwise(rtts_ms)]
    # A mean of differences cannot exceed the largest one; float rounding of the sum can
    # (hypothesis found 5461.403107569541 for a range of 5461.40310756954).
    return min(sum(diffs) / len(diffs), max(diffs))


def idle_latency(rtts_ms: Sequence[float]) -> LatencyResult:
    """Median, minimum and jitter of warm round trips, in the order they were taken."""
    values = tuple(float(r) for r in rtts_ms)
    if not values:
        raise ValueError("idle latency needs at least one round trip")
    if any(r < 0 for r in values):
        raise ValueError("round-trip times cannot be negative")
    return LatencyResult(
        rtts_ms=values,
        median_ms=float(median(values)),
        min_ms=min(values),
        jitter_ms=jitter_ms(values),
    )


def loaded_latency_ms(rtts_ms: Sequence[float]) -> float | None:
    """Median of the side-channel round trips during a transfer; None when there were none."""
    if not rtts_ms:
        return None
    return float(median(rtts_ms))
