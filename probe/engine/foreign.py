"""Records from other engines' raw data, and those engines' own statistics.

Every engine adapter samples cumulative payload bytes the way the native client does, so the
figure a record reports is always the probe's steady-state goodput over those samples (the same
rule for every engine: records stay comparable). What the engine itself would have reported on
the same run is computed here too and kept in ``Method.engine_*_mbps``, so ``probe crosscheck``
can show where a number on the engine's own website would differ, and why.

The engines' statistics (``shared/reference/measurement-methodology.md`` §1):

* LibreSpeed (browser): bytes after a grace period (1.5 s down, 3 s up) over the time since
  the grace period ended, x8, x1.06 (``overheadCompensationFactor``).
* speedtest-cli: all bytes over the whole run including ramp-up (no warm-up discard).
* Ookla (legacy, documented): the run cut into 20 slices, the fastest 10 % and slowest 30 %
  dropped, the rest averaged.
* ndt7 and iperf3: bytes over elapsed time (iperf3 after its ``-O`` omitted seconds).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from itertools import pairwise
from typing import Final

from probe.engine.latency import idle_latency
from probe.engine.plan import MeasurePlan
from probe.engine.summary import DirectionObservation, summarise_direction
from probe.measurement import DirectionResult, Measurement, Method, Sample
from probe.units import mbps_from_bytes

LIBRESPEED_OVERHEAD_FACTOR: Final = 1.06
LIBRESPEED_GRACE_DOWN_S: Final = 1.5
LIBRESPEED_GRACE_UP_S: Final = 3.0
OOKLA_SLICES: Final = 20
OOKLA_DROP_FAST_SHARE: Final = 0.1
OOKLA_DROP_SLOW_SHARE: Final = 0.3

# The probe's own statistic, as recorded in every engine's Method.
PROBE_STATISTIC: Final = (
    "probe steady-state window mean over the engine's raw byte samples "
    "(warm-up discarded, docs/measurement.md)"
)


def _count_at(samples: Sequence[Sample], t_s: float) -> float:
    """Cumulative bytes at ``t_s``, linearly interpolated between samples."""
    if not samples or t_s <= samples[0].t_s:
        return float(samples[0].total_bytes) if samples else 0.0
    for prev, cur in pairwise(samples):
        if cur.t_s >= t_s:
            span = cur.t_s - prev.t_s
            share = 0.0 if span <= 0 else (t_s - prev.t_s) / span
            return prev.total_bytes + share * (cur.total_bytes - prev.total_bytes)
    return float(samples[-1].total_bytes)


def whole_run_mbps(samples: Sequence[Sample]) -> float | None:
    """All bytes over all the time (speedtest-cli, ndt7's own figure)."""
    if len(samples) < 2 or samples[-1].t_s <= samples[0].t_s:
        return None
    moved = samples[-1].total_bytes - samples[0].total_bytes
    return mbps_from_bytes(moved, samples[-1].t_s - samples[0].t_s)


def librespeed_mbps(
    samples: Sequence[Sample], grace_s: float, factor: float = LIBRESPEED_OVERHEAD_FACTOR
) -> float | None:
    """LibreSpeed's browser figure: mean after the grace period, times its overhead factor."""
    if len(samples) < 2 or samples[-1].t_s <= grace_s:
        return None
    moved = samples[-1].total_bytes - _count_at(samples, grace_s)
    return mbps_from_bytes(int(moved), samples[-1].t_s - grace_s) * factor


def ookla_trimmed_mbps(samples: Sequence[Sample]) -> float | None:
    """Ookla's documented legacy statistic: 20 slices, drop fastest 10 % and slowest 30 %."""
    if len(samples) < 2 or samples[-1].t_s <= samples[0].t_s:
        return None
    start, end = samples[0].t_s, samples[-1].t_s
    width = (end - start) / OOKLA_SLICES
    rates = []
    for i in range(OOKLA_SLICES):
        a, b = start + i * width, start + (i + 1) * width
        rates.append((_count_at(samples, b) - _count_at(samples, a)) * 8 / width / 1e6)
    rates.sort()
    kept = rates[round(OOKLA_SLICES * OOKLA_DROP_SLOW_SHARE):
                 OOKLA_SLICES - round(OOKLA_SLICES * OOKLA_DROP_FAST_SHARE)]
    return sum(kept) / len(kept)


def engine_record(
    plan: MeasurePlan,
    *,
    backend: str,
    method: Method,
    measurement_id: str,
    started_at: datetime,
    idle_rtts_ms: Sequence[float],
    download: DirectionObservation | None,
    upload: DirectionObservation | None,
    extra_flags: Sequence[str] = (),
) -> Measurement:
    """The record of a foreign engine's run: the probe's statistic over its raw samples.

    Each direction is judged against the engine's own stream count for it (LibreSpeed runs
    6 down and 3 up), not the plan's.
    """
    flags: list[str] = list(extra_flags)
    results: dict[str, DirectionResult | None] = {"download": None, "upload": None}
    for name, obs, planned in (("download", download, method.streams_down),
                               ("upload", upload, method.streams_up)):
        if obs is None:
            continue
        result, direction_flags = summarise_direction(name, obs, planned,
                                                      client_upload_count=True)
        results[name] = result
        flags.extend(f for f in direction_flags if f not in flags)
    streams = max(method.streams_down if download else 0, method.streams_up if upload else 0)
    return Measurement(
        id=measurement_id, started_at=started_at, server=method.server,
        streams=streams or plan.streams, duration_s=plan.duration_s, backend=backend,
        latency=idle_latency(idle_rtts_ms) if idle_rtts_ms else None,
        download=results["download"], upload=results["upload"], flags=tuple(flags),
        method=method,
    )
