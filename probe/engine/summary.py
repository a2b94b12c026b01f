"""Summarise raw observations of one run into a :class:`~probe.measurement.Measurement`.

The adapter hands over what it saw, as plain values: round-trip times, each direction's
client-side byte samples, for upload the server's per-stream timelines, side-channel round
trips and its own CPU time. This module decides what is reported:

* upload is counted as the server *received* it (merged server timelines), and only then: the
  window runs while every stream was running on the server (from the last stream's first
  byte to the first stream's last). If the server did not answer for every stream, no upload
  figure is reported (``upload_mbps`` is null) and the record is flagged
  ``upload_not_counted``. The client's send count is never the figure: it counts what the
  kernel accepted into socket buffers, which is neither what crossed the line nor when, so it
  can read high or low (issue #13 saw both). A stream whose answer came too late may be
  counted from the server's state of it so far, if that reaches the moment the client
  stopped feeding (:func:`~probe.engine.timelines.partials_cover`); the record then says
  which (``partial_streams``), and raises no flag: every flag makes a record no evidence
  (probe.compliance), and the figure is what the answer would have given;
* a direction whose streams did not all last the whole duration is flagged
  ``<direction>_streams_ended_early`` (the window then ends when the first one stopped);
* a direction whose window cannot show a steady rate (``ThroughputEstimate.steady``) is
  flagged ``unsteady``: its edges may still have been held back, so it is no evidence; so is
  a download whose count moved more over the window than the segments that arrived
  (:mod:`probe.engine.arrivals`): its start edge was held back behind a lost segment;
* loaded latency is the median of the round trips taken inside the throughput window only
  (sent after its start, answered before its end), not during connecting or draining;
* a direction during which the client process used >= ``CLIENT_CPU_LIMIT_SHARE`` of the CPU it
  may use (one CPU, or less under a cgroup quota), or whose group was throttled in >=
  ``CPU_THROTTLED_SHARE`` of the quota's periods, is flagged ``client_cpu_limited``: the figure
  may be the probe's ceiling, not the line's (:func:`cpu_limited`).

All raw samples are kept in the record so any other statistic can be recomputed later.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from probe.engine.arrivals import counted_ahead_share, held_back
from probe.engine.latency import idle_latency, loaded_latency_ms
from probe.engine.plan import MeasurePlan
from probe.engine.throughput import estimate_throughput
from probe.engine.timelines import merge_stream_timelines, partials_cover
from probe.errors import ProtocolViolation
from probe.measurement import CountedAt, DirectionResult, LatencyResult, Measurement, Sample

# Python on one core: above this share of a CPU the client itself may be the bottleneck.
CLIENT_CPU_LIMIT_SHARE: Final = 0.9
# A group held to a CPU quota is stopped for the rest of each period once it has spent its
# quota (at 10 % of a 100 ms period: 90 ms in which the client neither reads nor sends). A
# client that keeps up with its line still spends the quota in some periods (connecting, and
# upload's bursts of sends), and its socket buffers bridge the stop: in
# benchmarks/bench_quota_flag.py (2026-11-29) 44 such directions, 20-500 Mbit/s at 10 % and
# 25 % of a core, read within 1 % and were throttled in at most 14 % of the periods they ran
# in; every CPU-bound one (unshaped) in all of them. 30 % is twice the first, far below the
# second. This rule also catches a quota shared with the group's other processes, where
# the client's own share stays below CLIENT_CPU_LIMIT_SHARE of the quota but the group's runs out.
CPU_THROTTLED_SHARE: Final = 0.3

FLAG_UPLOAD_NOT_COUNTED: Final = "upload_not_counted"
# Foreign engines only (see summarise_direction): their upload figure is the client's count.
FLAG_UPLOAD_CLIENT_COUNT: Final = "upload_counted_at_client"
FLAG_CPU_LIMITED: Final = "client_cpu_limited"
FLAG_UNSTEADY: Final = "unsteady"


@dataclass(frozen=True, slots=True)
class DirectionObservation:
    """What an adapter saw during one direction's transfer (times in s since it started).

    ``samples``: aggregate cumulative bytes as the client counted them (received for download,
    handed to the kernel for upload). ``all_running_until_s``: when the first stream stopped
    (None if all ran to the deadline). ``server_timelines``: for upload, each stream's
    ``[[t_server_s, cumulative_bytes], ...]`` as the server answered, None if it did not.
    ``elapsed_s``/``client_cpu_s``: wall time and process CPU time of the transfer.
    ``loaded_ping_times_s``: when each loaded round trip was sent (same order as
    ``loaded_rtts_ms``; empty: unknown, all are kept). ``server_origin_s``: the moment, on
    this direction's clock, that the server's merged timeline starts at (its 0).
    ``fed_until_s``: for upload, when the client stopped giving the streams new data (on this
    direction's clock); what was queued then still arrives later, at a falling rate.
    ``cpu_allowance``: the CPUs the client process may use (its cgroup CPU quota, e.g. 0.1,
    or the CPUs it may run on), None if unknown; ``cpu_periods``/``cpu_throttled_periods``/
    ``cpu_throttled_s``: during the direction, the quota's enforcement periods in which the
    group ran, in how many it was throttled and for how long (None: no quota, or unknown).
    """

    samples: tuple[Sample, ...]
    streams_started: int
    streams_completed: int
    all_running_until_s: float | None = None
    server_timelines: tuple[tuple[tuple[float, int], ...], ...] | None = None
    server_received_bytes: int | None = None
    loaded_rtts_ms: tuple[float, ...] = ()
    elapsed_s: float = 0.0
    client_cpu_s: float | None = None
    loaded_ping_times_s: tuple[float, ...] = ()
    server_origin_s: float = 0.0
    fed_until_s: float | None = None
    # How the direction ended (see DirectionResult): "duration", "steady" or "ceiling"; when
    # the streams stopped moving new data; the adaptive rule's precision at its last check.
    stop_reason: str | None = None
    stopped_at_s: float | None = None
    rate_precision: float | None = None
    cpu_allowance: float | None = None
    cpu_periods: int | None = None
    cpu_throttled_periods: int | None = None
    cpu_throttled_s: float | None = None
    # Download streams closed on purpose, and when (probe.engine.streamcount): the window's
    # warm-up counts from then.
    streams_retired: int = 0
    retired_at_s: float | None = None
    # What reached the receiver, in order or not (probe.engine.arrivals): for download at
    # the same ticks as ``samples`` (empty where the kernel does not say); for upload each
    # stream's timeline from the server's answer, like ``server_timelines`` (None: not given).
    arrived_samples: tuple[Sample, ...] = ()
    server_arrivals: tuple[tuple[tuple[float, int], ...], ...] | None = None
    # Whether a stream lost a segment: its receiver got one out of order (download) or its
    # sender retransmitted one (upload); None where the kernel does not say. Only then can
    # a count fall behind its arrivals (probe.engine.arrivals).
    losses_seen: bool | None = None
    # Upload streams whose timeline in ``server_timelines`` is the server's state so far, not
    # its answer (the answer was late: probe.client.lateanswers); they count only if they
    # reach ``fed_until_s`` (:func:`probe.engine.timelines.partials_cover`).
    partial_streams: tuple[int, ...] = ()


def cpu_limited(obs: DirectionObservation) -> bool:
    """Whether the client's CPU may have set the direction's figure: it used >=
    ``CLIENT_CPU_LIMIT_SHARE`` of what it may use (one CPU, its Python runs on one; less under
    a quota), or its group was throttled in >= ``CPU_THROTTLED_SHARE`` of the periods."""
    if obs.client_cpu_s is not None and obs.elapsed_s > 0:
        usable = 1.0 if obs.cpu_allowance is None else min(1.0, obs.cpu_allowance)
        if obs.client_cpu_s / obs.elapsed_s >= CLIENT_CPU_LIMIT_SHARE * usable:
            return True
    return (obs.cpu_periods is not None and obs.cpu_throttled_periods is not None
            and obs.cpu_periods > 0
            and obs.cpu_throttled_periods / obs.cpu_periods >= CPU_THROTTLED_SHARE)


def rtts_inside(obs: DirectionObservation, start_s: float, end_s: float) -> tuple[float, ...]:
    """The loaded round trips sent after ``start_s`` and answered by ``end_s``."""
    if len(obs.loaded_ping_times_s) != len(obs.loaded_rtts_ms):
        return obs.loaded_rtts_ms
    return tuple(rtt for t, rtt in zip(obs.loaded_ping_times_s, obs.loaded_rtts_ms, strict=True)
                 if t >= start_s and t + rtt / 1000.0 <= end_s)


def summarise_direction(
    name: str, obs: DirectionObservation, planned_streams: int, *,
    client_upload_count: bool = False,
) -> tuple[DirectionResult, tuple[str, ...]]:
    """The reported figures of one direction plus the flags they raise.

    ``client_upload_count``: for engines whose upload can only be counted at the client
    (speedtest-cli, LibreSpeed, ndt7 without server counts, ``probe.engine.foreign``): the
    figure is then reported from the client's count and flagged
    ``upload_counted_at_client``; the native client never does this.
    """
    flags: list[str] = []
    samples: tuple[Sample, ...] = obs.samples
    limit_s = obs.all_running_until_s
    # After a retirement the streams left fill the line anew: the warm-up counts from it.
    from_s = 0.0 if obs.retired_at_s is None else obs.retired_at_s
    counted_at: CountedAt = "client"
    arrived: tuple[Sample, ...] = obs.arrived_samples
    offset_s = 0.0  # where the samples' 0 is on the direction's (the pings') clock
    transferred = samples[-1].total_bytes if samples else 0
    # A late stream's partial timeline that stops before the window's end would shorten it
    # to less than was measured: the upload is then not counted, as without it.
    partial = (obs.partial_streams if partials_cover(
        obs.server_timelines, obs.partial_streams, obs.fed_until_s, obs.server_origin_s)
        else None)
    if obs.server_timelines is not None and partial is not None:
        try:
            merged = merge_stream_timelines(obs.server_timelines)
        except ProtocolViolation:
            merged = None
        if merged is not None and len(obs.server_timelines) == obs.streams_started:
            # The window ends where the first stream's last byte arrived: up to there every
            # stream was still sending (issue #13: running it on through the others' drain
            # measured fewer streams than planned).
            samples, counted_at = merged.samples, "server"
            arrived = _merged_arrivals(obs, merged.origin_s)
            limit_s, from_s, offset_s = merged.first_end_s, merged.all_started_s, \
                obs.server_origin_s
            if obs.retired_at_s is not None and 0 < obs.streams_retired < len(
                    obs.server_timelines):
                # Retired streams (the last ones) ended on purpose: the window runs while
                # the kept ones did, and its warm-up counts from the retirement.
                kept = obs.server_timelines[:len(obs.server_timelines) - obs.streams_retired]
                limit_s = min(tl[-1][0] for tl in kept) - merged.origin_s
                from_s = max(from_s, obs.retired_at_s - obs.server_origin_s)
            if obs.fed_until_s is not None:
                # ... and before the client stopped feeding them: after that they drain, and
                # a lost tail segment waits for a timeout while the others run out (a 5 Mbit/s
                # upload read 5-7 % low, flagged, with the window run on into the drain).
                limit_s = min(limit_s, max(from_s, obs.fed_until_s - obs.server_origin_s))
            transferred = (
                obs.server_received_bytes
                if obs.server_received_bytes is not None
                else samples[-1].total_bytes
            )
    counted = not (name == "upload" and counted_at == "client")
    if not counted and client_upload_count:
        flags.append(FLAG_UPLOAD_CLIENT_COUNT)
        counted = True
    elif not counted:
        flags.append(FLAG_UPLOAD_NOT_COUNTED)
    if obs.streams_completed < planned_streams:
        flags.append(f"{name}_streams_ended_early")
    if cpu_limited(obs):
        flags.append(FLAG_CPU_LIMITED)
    estimate = estimate_throughput(samples, limit_s, from_s)
    ahead = counted_ahead_share(samples, arrived, estimate.window_start_s,
                                estimate.window_end_s) if counted else None
    steady = estimate.steady and not held_back(ahead, losses_seen=obs.losses_seen)
    if counted and not steady:
        flags.append(FLAG_UNSTEADY)
    loaded = rtts_inside(obs, estimate.window_start_s + offset_s,
                         estimate.window_end_s + offset_s)
    result = DirectionResult(
        goodput_mbps=estimate.goodput_mbps if counted else None,
        transferred_bytes=transferred,
        window_start_s=estimate.window_start_s,
        window_end_s=estimate.window_end_s,
        samples=samples,
        counted_at=counted_at,
        loaded_rtts_ms=loaded,
        loaded_latency_ms=loaded_latency_ms(loaded),
        streams_completed=obs.streams_completed,
        steady=steady if counted else None,
        elapsed_s=obs.elapsed_s,
        stop_reason=obs.stop_reason,
        stopped_at_s=obs.stopped_at_s,
        rate_precision=obs.rate_precision,
        client_cpu_s=obs.client_cpu_s,
        cpu_allowance=obs.cpu_allowance,
        cpu_periods=obs.cpu_periods,
        cpu_throttled_periods=obs.cpu_throttled_periods,
        cpu_throttled_s=obs.cpu_throttled_s,
        streams_retired=obs.streams_retired,
        retired_at_s=obs.retired_at_s,
        arrived_samples=arrived if counted else (),
        counted_ahead_share=ahead,
        losses_seen=obs.losses_seen,
        partial_streams=partial if partial and counted_at == "server" else (),
    )
    return result, tuple(flags)


def _merged_arrivals(obs: DirectionObservation, origin_s: float) -> tuple[Sample, ...]:
    """The upload streams' arrivals summed, on the merged count's time base (or none)."""
    if obs.server_arrivals is None or len(obs.server_arrivals) != obs.streams_started:
        return ()
    try:
        merged = merge_stream_timelines(obs.server_arrivals)
    except ProtocolViolation:
        return ()
    shift_s = merged.origin_s - origin_s
    return tuple(Sample(s.t_s + shift_s, s.total_bytes) for s in merged.samples)


def build_measurement(
    plan: MeasurePlan,
    *,
    measurement_id: str,
    started_at: datetime,
    server: str,
    idle_rtts_ms: Sequence[float],
    download: DirectionObservation | None,
    upload: DirectionObservation | None,
    extra_flags: Sequence[str] = (),
) -> Measurement:
    """The record of one run; directions the plan did not measure stay None."""
    flags: list[str] = list(extra_flags)
    latency: LatencyResult | None = idle_latency(idle_rtts_ms) if idle_rtts_ms else None
    results: dict[str, DirectionResult | None] = {"download": None, "upload": None}
    for name, obs in (("download", download), ("upload", upload)):
        if obs is None:
            continue
        result, direction_flags = summarise_direction(name, obs, plan.streams)
        results[name] = result
        flags.extend(f for f in direction_flags if f not in flags)
    return Measurement(
        id=measurement_id,
        started_at=started_at,
        server=server,
        streams=plan.streams,
        duration_s=plan.duration_s,
        backend="native",
        latency=latency,
        download=results["download"],
        upload=results["upload"],
        flags=tuple(flags),
        duration_auto=plan.auto_duration is not None,
    )
