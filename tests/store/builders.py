"""Realistic measurement records for store and sink tests (raw samples included)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from probe.measurement import DirectionResult, LatencyResult, Measurement, Sample

BASE_TIME = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def make_measurement(
    i: int = 0,
    *,
    started_at: datetime | None = None,
    samples: int = 100,
    upload: bool = True,
    flags: tuple[str, ...] = (),
    server: str = "http://127.0.0.1:8080",
) -> Measurement:
    """Measurement ``i``: distinct figures per i, 15 minutes apart, ``samples`` per direction."""
    start = started_at or BASE_TIME + timedelta(minutes=15 * i)
    down_rate = 90.0 + i % 17 + 0.125
    up_rate = 18.0 + i % 5 + 0.25
    step = 10.0 / samples

    def direction(rate: float, counted_at: str) -> DirectionResult:
        per_step = int(rate * 1e6 / 8 * step)
        return DirectionResult(
            goodput_mbps=rate,
            transferred_bytes=per_step * samples,
            window_start_s=2.0,
            window_end_s=10.0,
            samples=tuple(Sample(round(step * (k + 1), 6), per_step * (k + 1))
                          for k in range(samples)),
            counted_at=counted_at,  # type: ignore[arg-type]
            loaded_rtts_ms=(25.5, 30.25, 27.0),
            loaded_latency_ms=27.0,
            streams_completed=4,
        )

    return Measurement(
        id=str(uuid.UUID(int=i + 1)),
        started_at=start,
        server=server,
        streams=4,
        duration_s=10.0,
        latency=LatencyResult(rtts_ms=(11.5, 12.0, 12.5, 11.75), median_ms=11.875,
                              min_ms=11.5, jitter_ms=0.375),
        download=direction(down_rate, "client"),
        upload=direction(up_rate, "server") if upload else None,
        flags=flags,
    )
