"""The tick of one transfer direction: sample the aggregate count, report progress, watch stalls.

Every ``sample_interval_s`` (on the loop's monotonic clock, seconds since the direction's
streams started connecting) the sampler records the client-side cumulative byte count, the
caller's per-tick work runs (draining slow download bodies, retuning upload streams), and a
direction that moved nothing for the plan's timeout ends in :class:`MeasurementTimeout`. The
tick is the one regular wake-up of a transfer, so everything periodic rides on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final

from probe.engine.autostop import AutoStop
from probe.engine.plan import MeasurePlan, Phase, Progress
from probe.errors import MeasurementTimeout
from probe.measurement import Sample

PROGRESS_WINDOW_S: Final = 0.5
# How often the adaptive-length rule is asked (of sample time): a check costs ~1-10 ms.
AUTO_CHECK_EVERY_S: Final = 0.2


def stop_rule(plan: MeasurePlan) -> AutoStop | None:
    """The adaptive-length rule for ``--duration auto`` (None for a fixed length)."""
    if plan.auto_duration is None:
        return None
    return AutoStop(plan.auto_duration, check_every_s=AUTO_CHECK_EVERY_S)


def stop_outcome(rule: AutoStop | None) -> tuple[str, float | None]:
    """The record's ``stop_reason`` and ``rate_precision`` for a direction that ended."""
    if rule is None:
        return "duration", None
    last = rule.last
    reason = "steady" if last is not None and last.stop else "ceiling"
    return reason, None if last is None else last.precision


def any_losses(seen: list[bool | None]) -> bool | None:
    """Whether any stream lost a segment: True if one did, False if all said none, else None."""
    if any(seen):
        return True
    return None if not seen or None in seen else False


class Sampler:
    """Aggregate cumulative bytes at each tick, plus a progress report."""

    def __init__(self, phase: Phase, plan: MeasurePlan, t0: float,
                 on_progress: Callable[[Progress], None] | None) -> None:
        self.samples: list[Sample] = [Sample(0.0, 0)]
        self._phase, self._plan, self._t0, self._on_progress = phase, plan, t0, on_progress

    def record(self, now: float, total: int) -> None:
        t = now - self._t0
        total = max(total, self.samples[-1].total_bytes)
        self.samples.append(Sample(t, total))
        if self._on_progress is not None:
            past = [s for s in self.samples if s.t_s >= t - PROGRESS_WINDOW_S]
            first = past[0] if past[0].t_s < t else self.samples[-2]
            span = t - first.t_s
            mbps = (total - first.total_bytes) * 8 / span / 1e6 if span > 0 else None
            self._on_progress(Progress(self._phase, t, self._plan.duration_s, mbps))


async def tick_until(deadline: float, plan: MeasurePlan, sampler: Sampler,
                     total: Callable[[], int], all_ended: Callable[[], bool], *,
                     on_tick: Callable[[float], None] | None = None) -> None:
    """Sample until the deadline; MeasurementTimeout if nothing moved for the timeout.

    Each sample is stamped with the time it was read (a late timer stamps late, it does not
    move bytes earlier); the last one is read at or just after the deadline. ``on_tick`` gets
    the time since the previous tick.
    """
    loop = asyncio.get_running_loop()
    last_change, last_total, last_t = loop.time(), 0, loop.time()
    while True:
        now = loop.time()
        if now >= deadline or all_ended():
            return
        await asyncio.sleep(min(plan.sample_interval_s, deadline - now))
        now = loop.time()
        current = total()
        sampler.record(now, current)
        if on_tick is not None:
            on_tick(now - last_t)
        last_t = now
        if current != last_total:
            last_change, last_total = now, current
        elif now - last_change > plan.connect_timeout_s:
            raise MeasurementTimeout(
                f"the server sent or took no data for {plan.connect_timeout_s:g} s"
            )
