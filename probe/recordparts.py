"""The values a measurement record is built from: samples, the idle latency, one direction.

:class:`Sample` is one reading of a direction's cumulative payload count, :class:`LatencyResult`
the round trips on warm connections, :class:`DirectionResult` one direction's transfer (its
goodput over the steady-state window, the raw samples it was computed from and what limited
it). They are frozen values with no behaviour; the record that holds them, and its JSON form,
is :class:`probe.measurement.Measurement` (which re-exports every name here), and their JSON
fields are read and written by :mod:`probe.recordjson`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Direction = Literal["down", "up"]
CountedAt = Literal["client", "server"]


@dataclass(frozen=True, slots=True)
class Sample:
    """Cumulative payload bytes at a moment, seconds after the direction started."""

    t_s: float
    total_bytes: int


@dataclass(frozen=True, slots=True)
class LatencyResult:
    """Round trips on warm connections, in milliseconds, in the order they were taken."""

    rtts_ms: tuple[float, ...]
    median_ms: float
    min_ms: float
    jitter_ms: float


@dataclass(frozen=True, slots=True)
class DirectionResult:
    """One direction's transfer: goodput over the steady-state window plus the raw samples.

    ``samples`` are aggregated over all streams and are what ``goodput_mbps`` was computed
    from; ``counted_at`` says whose byte counter they are (upload: the server's where it could
    answer). ``window_start_s``/``window_end_s`` bound the steady-state window on the same
    time base as the samples. ``goodput_mbps`` is None when the direction ran but could not
    be counted where it must be (an upload the server did not answer for; flagged).
    ``steady``: whether the window showed a steady rate (None: not judged, e.g. old records).
    ``elapsed_s``: how long the direction took, connecting and draining included.
    ``client_cpu_s``: the client process's CPU time during it; ``cpu_allowance``: the CPUs it
    may use (a cgroup CPU quota, e.g. 0.1, or the CPUs it may run on); ``cpu_periods``,
    ``cpu_throttled_periods``, ``cpu_throttled_s``: the quota's periods in which its group ran
    during the direction, how many of them ended in throttling, and for how long (None: no
    quota, another engine, or an older record). They explain ``client_cpu_limited``.
    """

    goodput_mbps: float | None
    transferred_bytes: int
    window_start_s: float
    window_end_s: float
    samples: tuple[Sample, ...]
    counted_at: CountedAt
    loaded_rtts_ms: tuple[float, ...] = ()
    loaded_latency_ms: float | None = None
    streams_completed: int = 0
    steady: bool | None = None
    elapsed_s: float | None = None
    # Why the direction stopped: "duration" (a fixed length reached), "steady" (the adaptive
    # rule knew the rate to its tolerance), "ceiling" (it did not by the ceiling); None in
    # older records and for other engines. ``stopped_at_s``: when the streams stopped moving
    # new data (an upload's queued bytes still drain after it). ``rate_precision``: the
    # adaptive rule's relative 95 % half-width at its last check (docs/measurement.md).
    stop_reason: str | None = None
    stopped_at_s: float | None = None
    rate_precision: float | None = None
    client_cpu_s: float | None = None
    cpu_allowance: float | None = None
    cpu_periods: int | None = None
    cpu_throttled_periods: int | None = None
    cpu_throttled_s: float | None = None
    # Streams ended on purpose because a slow line holds too few packets for all of them
    # (docs/measurement.md, "Number of streams"), and when; the window starts after.
    streams_retired: int = 0
    retired_at_s: float | None = None
    # Payload that reached the receiver (the client for download, the server for upload), in
    # order or not: an upper bound, from the kernel's segment count, on the time base of
    # ``samples``; ``counted_ahead_share``: how much more the count moved over the window
    # than that, as a share (> 1.5 %: the window's start was held back behind a lost segment;
    # < -2 % on a connection that lost segments: its end was; either is flagged unsteady;
    # docs/measurement.md). Empty / None where not measured.
    arrived_samples: tuple[Sample, ...] = ()
    counted_ahead_share: float | None = None
    # Whether a stream lost a segment (received one out of order, or retransmitted one); None
    # where the kernel does not say. Only then is a count behind its arrivals held back.
    losses_seen: bool | None = None
    # Upload streams counted from the server's state so far, their answers being late
    # (docs/measurement.md, "Late answers"; informative, not a flag: the figure stands);
    # empty: all from answers.
    partial_streams: tuple[int, ...] = ()
