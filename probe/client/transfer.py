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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from probe import wire
from probe.client.connect import ServerAddress, await_answer, open_connection, request_head
from probe.client.http1 import READ_BUFFER_BYTES, HttpConnection, Response, check_status
from probe.client.pings import Pinger, ping_every
from probe.client.upload import UploadStream, upload_stream
from probe.engine.plan import MeasurePlan, Phase, Progress
from probe.engine.summary import DirectionObservation
from probe.errors import MeasurementTimeout, ProtocolViolation, ServerUnreachable
from probe.measurement import Direction, Sample

# Ask for the default server cap: the client, not the byte count, ends a download stream. A
# server with a lower cap answers 413 naming it, and each stream asks again for what it allows.
DOWNLOAD_REQUEST_BYTES: Final = wire.DEFAULT_MAX_TRANSFER_BYTES
PROGRESS_WINDOW_S: Final = 0.5
# A stream whose unacknowledged bytes cannot be read (no TIOCOUTQ) is assumed to hold this:
# the unsent bound of a fast stream (probe.sendpolicy) plus a generous in-flight window.
ASSUMED_UNACKED_BYTES: Final = 4 * 1024 * 1024
MAX_DRAIN_WAIT_S: Final = 60.0


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


@dataclass(frozen=True, slots=True)
class _Transfer:
    """What one direction's streams produced, before the engine summarises it."""

    samples: tuple[Sample, ...]
    completed: int
    until_s: float | None = None
    timelines: tuple[tuple[tuple[float, int], ...], ...] | None = None
    received_bytes: int | None = None
    server_origin_s: float = 0.0
    fed_until_s: float | None = None


async def run_direction(
    direction: Direction, address: ServerAddress, plan: MeasurePlan, *, token: str | None,
    on_progress: Callable[[Progress], None] | None = None,
) -> DirectionObservation:
    """Run one direction of ``plan`` against the server and return what was observed."""
    loop = asyncio.get_running_loop()
    pinger = await Pinger(address, token, plan.connect_timeout_s).open()
    loaded: list[tuple[float, float]] = []
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
        samples=obs.samples, streams_started=plan.streams,
        streams_completed=obs.completed, all_running_until_s=obs.until_s,
        server_timelines=obs.timelines, server_received_bytes=obs.received_bytes,
        loaded_rtts_ms=tuple(rtt for _, rtt in loaded),
        loaded_ping_times_s=tuple(t - t0 for t, _ in loaded),
        server_origin_s=obs.server_origin_s, fed_until_s=obs.fed_until_s,
        elapsed_s=elapsed_s, client_cpu_s=time.process_time() - cpu0,
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


def _download_head(address: ServerAddress, token: str | None, size: int) -> bytes:
    return request_head(address, "GET", f"{wire.PATH_DOWNLOAD}?{wire.PARAM_BYTES}={size}",
                        token=token)


def _server_cap(response: Response) -> int | None:
    """The byte cap a 413 answer names (``max_bytes``), if it names one."""
    if response.status != 413:
        return None
    try:
        cap = response.json().get(wire.FIELD_MAX_BYTES)
    except (ProtocolViolation, AttributeError):
        return None
    return cap if isinstance(cap, int) and not isinstance(cap, bool) and cap > 0 else None


async def _start_download(conn: HttpConnection, address: ServerAddress, plan: MeasurePlan,
                          token: str | None, size: int) -> int:
    """Ask for ``size`` bytes, or for the server's cap if it refuses that; return the size."""
    for _ in range(2):
        response = await await_answer(
            conn.request(_download_head(address, token, size), count_body=True),
            timeout_s=plan.connect_timeout_s, what="a download request", address=address)
        cap = _server_cap(response)
        if cap is None or cap >= size:
            check_status(response, "a download request")
            return size
        size = cap  # a server with a lower --max-transfer-bytes: ask for what it allows
    check_status(response, "a download request")
    return size


async def _keep_downloading(conn: HttpConnection, address: ServerAddress, plan: MeasurePlan,
                            token: str | None, *, size: int, deadline: float) -> None:
    """When a body ends before the deadline (a small server cap), ask for the next one."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            await conn.body_done
        except ServerUnreachable:
            return  # the connection ended; ended_at says when
        if loop.time() >= deadline:
            return
        try:
            await _start_download(conn, address, plan, token, size)
        except (ServerUnreachable, MeasurementTimeout, ProtocolViolation):
            return  # ended early: flagged, and the window ends here


async def _download(address: ServerAddress, plan: MeasurePlan, token: str | None, t0: float,
                    on_progress: Callable[[Progress], None] | None) -> _Transfer:
    shared = bytearray(READ_BUFFER_BYTES)
    conns = await _open_streams(address, plan, lambda: HttpConnection(shared))
    chains: list[asyncio.Task[None]] = []
    try:
        size = await _start_download(conns[0], address, plan, token, DOWNLOAD_REQUEST_BYTES)
        await asyncio.gather(*(_start_download(c, address, plan, token, size)
                               for c in conns[1:]))
        deadline = t0 + plan.duration_s
        chains = [asyncio.create_task(_keep_downloading(c, address, plan, token, size=size,
                                                     deadline=deadline))
                  for c in conns]
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
        for task in chains:
            task.cancel()
        for conn in conns:
            conn.close()
        await asyncio.gather(*chains, return_exceptions=True)
    if sampler.samples[-1].total_bytes == 0:
        raise ServerUnreachable("the server closed the download streams before sending data")
    return _Transfer(tuple(sampler.samples), len(conns) - len(ended),
                     (min(ended) if ended else deadline) - t0)


def answer_wait_s(unacked_bytes: Sequence[int | None], rate_bytes_per_s: float,
                  plan: MeasurePlan) -> float:
    """How long to wait for all upload answers: twice the drain time of what is unacknowledged
    (a stream whose count is unknown is assumed to hold ``ASSUMED_UNACKED_BYTES``), plus the
    plan's timeout for the answer itself."""
    held = sum(ASSUMED_UNACKED_BYTES if b is None else b for b in unacked_bytes)
    drain_s = 2 * held / rate_bytes_per_s if rate_bytes_per_s > 0 else MAX_DRAIN_WAIT_S
    return plan.connect_timeout_s + min(MAX_DRAIN_WAIT_S, drain_s)


def _drain_s(streams: Sequence[UploadStream], elapsed_s: float) -> float:
    """How long what the streams' sockets hold takes to cross the line (0: not known).

    What is queued or in flight at the deadline must still cross the line before the server
    can answer: behind a 0.6 s queue at 0.5 Mbit/s that was 2-3 s. So, where the kernel says
    how much it holds, the streams stop being fed that long before the deadline and their
    last bytes arrive about then; the window ends before that moment, so the reading is not
    biased, and the run ends near its duration. The rate is the mean since the start: the
    acknowledged count stalls in every loss recovery, and a stalled rate would stop the
    streams seconds early.
    """
    held = [s.unacked_bytes() for s in streams]
    if any(h is None for h in held) or elapsed_s <= 0:
        return 0.0
    unacked = sum(h or 0 for h in held)
    acked = sum(s.sent_payload_bytes for s in streams) - unacked
    return unacked * elapsed_s / acked if acked > 0 else 0.0


def _recent_rate(samples: Sequence[Sample], span_s: float = 1.0) -> float:
    """Bytes per second over the last ``span_s`` of client samples (0 if unknown)."""
    last = samples[-1]
    first = next((s for s in samples if s.t_s >= last.t_s - span_s), samples[0])
    if last.t_s <= first.t_s:
        return 0.0
    return (last.total_bytes - first.total_bytes) / (last.t_s - first.t_s)


async def _upload(address: ServerAddress, plan: MeasurePlan, token: str | None, t0: float,
                  on_progress: Callable[[Progress], None] | None) -> _Transfer:
    loop = asyncio.get_running_loop()
    head = request_head(address, "POST", wire.PATH_UPLOAD, token=token, extra=(
        ("Transfer-Encoding", "chunked"), ("Content-Type", "application/octet-stream")))
    streams = [upload_stream(address, plan.connect_timeout_s) for _ in range(plan.streams)]
    deadline = t0 + plan.duration_s
    try:
        opened = await asyncio.gather(*(s.open(head) for s in streams), return_exceptions=True)
        for result in opened:
            if isinstance(result, BaseException):
                raise result
        # The server's clock starts when it reads the first head: about now, on ours.
        server_origin_s = loop.time() - t0
        for stream in streams:
            stream.start()
        sampler = _Sampler("upload", plan, t0, on_progress)
        finished: list[asyncio.Future[Response]] = []

        def tune(interval_s: float) -> None:
            for stream in streams:
                stream.tune(interval_s)
            now = loop.time()
            if not finished and now >= t0 + plan.duration_s / 2 \
                    and now + _drain_s(streams, now - t0) >= deadline:
                finished.append(loop.create_future())  # stop feeding: see _drain_s

        await _tick_until(deadline, plan, sampler,
                          lambda: sum(s.sent_payload_bytes for s in streams),
                          lambda: bool(finished) or all(s.error is not None for s in streams),
                          on_tick=tune)
        early = sum(1 for s in streams if s.error is not None)
        fed_until_s = loop.time() - t0
        answers = [await s.finish() for s in streams]
        # One deadline for all answers together, sized from what the sockets still hold: a
        # stream behind a deep queue answers seconds after the others, and waiting for each in
        # turn with a fixed limit dropped late answers (issue #13).
        wait_s = answer_wait_s([s.unacked_bytes() for s in streams],
                               _recent_rate(sampler.samples), plan)
        done, _ = await asyncio.wait(answers, timeout=wait_s)
        timelines: list[tuple[tuple[float, int], ...]] = []
        received = 0
        for answer in answers:
            if answer not in done or answer.exception() is not None:
                continue  # not counted: the figure is withheld and the record flagged
            response = answer.result()
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
    return _Transfer(
        tuple(sampler.samples), len(streams) - early, None,
        tuple(timelines) if complete else None, received if complete else None,
        server_origin_s, fed_until_s,
    )
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
