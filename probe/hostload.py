"""Samples of how busy the host is: interface byte counters and CPU times, as values.

:mod:`probe.hostfacts.counters` reads them; :mod:`probe.agent.gating` judges them. Times are
seconds on a monotonic clock, read by the adapter.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CounterSample:
    """Cumulative interface bytes (both directions) at a monotonic time, in seconds."""

    t_s: float
    rx_bytes: int
    tx_bytes: int


@dataclass(frozen=True, slots=True)
class CpuSample:
    """Cumulative CPU time (any unit, e.g. /proc/stat jiffies): busy and total."""

    busy: int
    total: int
