"""Run an engine's streams for a fixed time and sample their cumulative byte count.

Every engine's streams add what they moved to one :class:`ByteCounter`; :func:`run_streams`
samples it every ``interval_s`` on the event loop's monotonic clock (first sample ``(0, 0)``),
stops the streams at the deadline and returns a
:class:`~probe.engine.summary.DirectionObservation`, the raw data the probe's statistic is
applied to. Process CPU time over the transfer is recorded so a CPU-bound client is flagged.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from probe.engine.interface import ProgressCallback
from probe.engine.plan import Phase, Progress
from probe.engine.summary import DirectionObservation
from probe.errors import MeasurementError, MeasurementTimeout, ProtocolViolation
from probe.measurement import Sample
from probe.units import mbps_from_bytes


@dataclass
class ByteCounter:
    """Payload bytes moved so far by all streams of one direction.

    Upload streams register what they have handed over but the server has not yet
    acknowledged (``unacked``: their socket's send queue plus the transport's buffer); the
    sampled count is then what the server's TCP acknowledged, not what merely sat in buffers.
    """

    total: int = 0
    unacked: dict[int, Callable[[], int]] = field(default_factory=dict)

    def add(self, n: int) -> None:
        self.total += n

    def counted(self) -> int:
        return self.total - sum(pending() for pending in self.unacked.values())


StreamFactory = Callable[[ByteCounter], Awaitable[None]]


async def run_streams(
    streams: Sequence[StreamFactory],
    *,
    duration_s: float,
    interval_s: float,
    stall_timeout_s: float,
    phase: Phase,
    on_progress: ProgressCallback | None = None,
    stagger_s: float = 0.0,
    server_timelines: Callable[[], tuple[tuple[tuple[float, int], ...], ...] | None] | None = None,
    end_grace_s: float = 0.0,
) -> DirectionObservation:
    """Start ``streams`` (``stagger_s`` apart, as LibreSpeed does), sample, stop at the deadline.

    A stream that raises a probe error before the deadline fails the run; one that finishes
    early simply stops adding bytes (and is counted as not completed). No byte for
    ``stall_timeout_s`` raises ``MeasurementTimeout``.
    """
    loop = asyncio.get_running_loop()
    counter = ByteCounter()
    t0 = loop.time()
    cpu0 = time.process_time()
    ended_at: list[float] = []

    async def launch(i: int, factory: StreamFactory) -> None:
        if i and stagger_s:
            await asyncio.sleep(i * stagger_s)
        await factory(counter)
        ended_at.append(loop.time() - t0)

    tasks = [asyncio.create_task(launch(i, f)) for i, f in enumerate(streams)]
    samples = [Sample(0.0, 0)]
    last_change = 0.0
    try:
        while True:
            elapsed = loop.time() - t0
            if elapsed >= duration_s:
                break
            await asyncio.sleep(min(interval_s, duration_s - elapsed))
            elapsed = loop.time() - t0
            for task in tasks:
                if task.done() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
            count = max(counter.counted(), samples[-1].total_bytes)
            if count != samples[-1].total_bytes:
                last_change = elapsed
            elif elapsed - last_change > stall_timeout_s:
                raise MeasurementTimeout(
                    f"no data moved for {stall_timeout_s:g} s during the {phase}")
            if on_progress is not None and elapsed > samples[-1].t_s:
                rate = mbps_from_bytes(count - samples[-1].total_bytes,
                                       elapsed - samples[-1].t_s)
                on_progress(Progress(phase, elapsed, duration_s, rate))
            samples.append(Sample(elapsed, count))
            if all(task.done() for task in tasks):
                break
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, MeasurementError, OSError):
                await task
    elapsed = loop.time() - t0
    if samples[-1].total_bytes == 0:
        # A server that answers but moves nothing (a half-configured legacy server whose test
        # files are missing) must not read as a 0 Mbit/s line.
        raise ProtocolViolation(f"no data moved during the {phase}: the server answered but "
                                "its test endpoint did not deliver")
    # A stream that ends within ``end_grace_s`` of the deadline (a server that ends the test
    # itself, as ndt7's does) ran the whole test.
    on_time = [t for t in ended_at if t >= duration_s - end_grace_s]
    early = [t for t in ended_at if t < duration_s - end_grace_s]
    completed = len(on_time) + sum(1 for task in tasks if task.cancelled())
    timelines = server_timelines() if server_timelines is not None else None
    return DirectionObservation(
        samples=tuple(samples),
        streams_started=len(streams),
        streams_completed=min(completed, len(streams)),
        all_running_until_s=min(early) if early else None,
        server_timelines=timelines,
        server_received_bytes=(None if timelines is None
                               else sum(tl[-1][1] for tl in timelines if tl)),
        elapsed_s=elapsed,
        client_cpu_s=time.process_time() - cpu0,
    )
