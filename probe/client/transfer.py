"""One direction's bulk transfer: N parallel streams for a fixed duration, sampled every tick.

Download: N ``GET /download?bytes=<cap>`` whose bodies are counted by :class:`HttpConnection`
straight out of one shared receive buffer; the connections are aborted at the deadline.
Upload: N ``POST /upload`` with a chunked body written from pre-framed slices of one random
buffer (no per-write allocation); at the deadline each stream sends the last chunk and the
server answers with what it *received* and when, which is what the upload rate is computed from.

A sampler records the aggregate client-side count every ``sample_interval_s`` on the loop's
monotonic clock (seconds since the streams started connecting), a side channel pings every
``loaded_ping_interval_s``, and the process CPU time of the direction is kept so the summary can
flag a client-limited run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, Final

from probe import wire
from probe.client.connect import ServerAddress, await_answer, open_connection, request_head
from probe.client.http1 import READ_BUFFER_BYTES, HttpConnection, check_status
from probe.client.pings import Pinger, ping_every
from probe.client.upload import UploadStream
from probe.engine.plan import MeasurePlan, Phase, Progress
from probe.engine.summary import DirectionObservation
from probe.errors import MeasurementTimeout, ProtocolViolation, ServerUnreachable
from probe.measurement import Direction, Sample

# Ask for the server's byte cap: the client, not the byte count, ends a download stream.
DOWNLOAD_REQUEST_BYTES: Final = wire.DEFAULT_MAX_TRANSFER_BYTES
PROGRESS_WINDOW_S: Final = 0.5


class _Sampler:
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


async def _open_streams(address: ServerAddress, plan: MeasurePlan,
                        factory: Callable[[], HttpConnection]) -> list[HttpConnection]:
    results = await asyncio.gather(
        *(open_connection(address, factory, timeout_s=plan.connect_timeout_s)
          for _ in range(plan.streams)),
        return_exceptions=True,
    )
    conns = [r for r in results if isinstance(r, HttpConnection)]
    for r in results:
        if isinstance(r, BaseException):
            for conn in conns:
                conn.close()
            raise r
    return conns


async def run_direction(
    direction: Direction, address: ServerAddress, plan: MeasurePlan, *, token: str | None,
    on_progress: Callable[[Progress], None] | None = None,
) -> DirectionObservation:
    """Run one direction of ``plan`` against the server and return what was observed."""
    loop = asyncio.get_running_loop()
    pinger = await Pinger(address, token, plan.connect_timeout_s).open()
    loaded: list[float] = []
    pings: asyncio.Task[None] | None = None
    cpu0 = time.process_time()
    t0 = loop.time()
    try:
        pings = asyncio.create_task(ping_every(pinger, plan.loaded_ping_interval_s, loaded))
        if direction == "down":
            obs = await _download(address, plan, token, t0, on_progress)
        else:
            obs = await _upload(address, plan, token, t0, on_progress)
    finally:
        if pings is not None:
            pings.cancel()
            await asyncio.gather(pings, return_exceptions=True)
        pinger.close()
    elapsed_s = loop.time() - t0
    return DirectionObservation(
        samples=obs["samples"], streams_started=plan.streams,
        streams_completed=obs["completed"], all_running_until_s=obs["until"],
        server_timelines=obs.get("timelines"), server_received_bytes=obs.get("received"),
        loaded_rtts_ms=tuple(loaded), elapsed_s=elapsed_s,
        client_cpu_s=time.process_time() - cpu0,
    )


async def _tick_until(deadline: float, plan: MeasurePlan, sampler: _Sampler,
                      total: Callable[[], int], all_ended: Callable[[], bool], *,
                      on_tick: Callable[[float], None] | None = None) -> None:
    """Sample until the deadline; MeasurementTimeout if nothing moved for the timeout.

    Each sample is stamped with the time it was read (a late timer stamps late, it does not
    move bytes earlier); the last one is read at or just after the deadline.
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


async def _download(address: ServerAddress, plan: MeasurePlan, token: str | None, t0: float,
                    on_progress: Callable[[Progress], None] | None) -> dict[str, Any]:
    shared = bytearray(READ_BUFFER_BYTES)
    conns = await _open_streams(address, plan, lambda: HttpConnection(shared))
    try:
        head = request_head(address, "GET",
                            f"{wire.PATH_DOWNLOAD}?{wire.PARAM_BYTES}={DOWNLOAD_REQUEST_BYTES}",
                            token=token)
        answers = [conn.request(head, count_body=True) for conn in conns]
        for answer in answers:
            response = await await_answer(answer, timeout_s=plan.connect_timeout_s,
                                          what="a download request", address=address)
            check_status(response, "a download request")
        deadline = t0 + plan.duration_s
        sampler = _Sampler("download", plan, t0, on_progress)
        def batch_reads(interval_s: float) -> None:
            for conn in conns:
                conn.batch_reads(interval_s)

        def counted() -> int:
            return sum(c.body_bytes + c.queued_bytes() for c in conns)

        await _tick_until(deadline, plan, sampler, counted,
                          lambda: all(c.ended_at is not None for c in conns), on_tick=batch_reads)
        ended = [c.ended_at for c in conns if c.ended_at is not None and c.ended_at < deadline]
    finally:
        for conn in conns:
            conn.close()
    if sampler.samples[-1].total_bytes == 0:
        raise ServerUnreachable("the server closed the download streams before sending data")
    return {
        "samples": tuple(sampler.samples),
        "completed": len(conns) - len(ended),
        "until": (min(ended) - t0) if ended else None,
    }


async def _upload(address: ServerAddress, plan: MeasurePlan, token: str | None, t0: float,
                  on_progress: Callable[[Progress], None] | None) -> dict[str, Any]:
    head = request_head(address, "POST", wire.PATH_UPLOAD, token=token, extra=(
        ("Transfer-Encoding", "chunked"), ("Content-Type", "application/octet-stream")))
    streams = [UploadStream(address, plan.connect_timeout_s) for _ in range(plan.streams)]
    deadline = t0 + plan.duration_s
    try:
        opened = await asyncio.gather(*(s.open(head) for s in streams), return_exceptions=True)
        for result in opened:
            if isinstance(result, BaseException):
                raise result
        for stream in streams:
            stream.start()
        sampler = _Sampler("upload", plan, t0, on_progress)
        def tune(interval_s: float) -> None:
            for stream in streams:
                stream.tune(interval_s)

        await _tick_until(deadline, plan, sampler,
                          lambda: sum(s.sent_payload_bytes for s in streams),
                          lambda: all(s.error is not None for s in streams), on_tick=tune)
        early = sum(1 for s in streams if s.error is not None)
        answers = [await s.finish() for s in streams]
        wait_s = max(plan.connect_timeout_s, plan.duration_s)
        timelines: list[tuple[tuple[float, int], ...]] = []
        received = 0
        for answer in answers:
            try:
                response = await await_answer(answer, timeout_s=wait_s, what="an upload",
                                              address=address)
            except (MeasurementTimeout, ServerUnreachable):
                continue  # counted at the client instead (flagged by the summary)
            check_status(response, "an upload")
            stream_bytes, timeline = _parse_upload_answer(response.json())
            received += stream_bytes
            timelines.append(timeline)
    finally:
        for stream in streams:
            stream.close()
    if sampler.samples[-1].total_bytes == 0:
        raise ServerUnreachable("the server closed the upload streams before taking data")
    complete = len(timelines) == len(streams)
    return {
        "samples": tuple(sampler.samples),
        "completed": len(streams) - early,
        "until": None,
        "timelines": tuple(timelines) if complete else None,
        "received": received if complete else None,
    }


def _parse_upload_answer(data: Any) -> tuple[int, tuple[tuple[float, int], ...]]:
    """``{"received_bytes": n, "samples": [[t, bytes], ...]}`` -> (n, timeline)."""
    if not isinstance(data, dict):
        raise ProtocolViolation("the server's upload answer is not a JSON object")
    received, samples = data.get("received_bytes"), data.get("samples")
    if not isinstance(received, int) or received < 0 or not isinstance(samples, list):
        raise ProtocolViolation("the server's upload answer lacks received_bytes or samples")
    timeline = []
    for point in samples:
        if (not isinstance(point, list) or len(point) != 2
                or not all(isinstance(v, int | float) for v in point)):
            raise ProtocolViolation(f"the server's upload sample {point!r} is not [t, bytes]")
        timeline.append((float(point[0]), int(point[1])))
    return received, tuple(timeline)
