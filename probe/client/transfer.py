"""One direction's bulk transfer: N parallel streams for a fixed duration, sampled every tick.

:func:`run_direction` wraps either direction with what both share: a side channel that pings
every ``loaded_ping_interval_s``, and the process CPU time of the direction so the summary can
flag a client-limited run. Download is :mod:`probe.client.download`. Upload is here: N
``POST /upload`` streams (:mod:`probe.client.upload`) with a chunked body; near the deadline
each stream sends the last chunk and the server answers with what it *received* and when
(:class:`probe.wire.UploadAnswer`), which is what the upload rate is computed from. The tick
that samples and retunes the streams is :mod:`probe.client.sampling`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Final

from probe.client import cpuquota
from probe.client.connect import ServerAddress, request_head
from probe.client.download import download
from probe.client.lateanswers import collect_answers, new_upload_id, upload_path
from probe.client.pings import Pinger, ping_every
from probe.client.responses import Response
from probe.client.retiring import UploadRetirement
from probe.client.sampling import Sampler, any_losses, stop_outcome, stop_rule, tick_until
from probe.client.upload import UploadStream, upload_stream
from probe.engine.counts import recent_rate
from probe.engine.plan import MeasurePlan, Progress
from probe.engine.summary import DirectionObservation
from probe.errors import ServerUnreachable
from probe.measurement import Direction, Sample

# A stream whose unacknowledged bytes cannot be read (no TIOCOUTQ) is assumed to hold this:
# the unsent bound of a fast stream (probe.sendpolicy) plus a generous in-flight window.
ASSUMED_UNACKED_BYTES: Final = 4 * 1024 * 1024
MAX_DRAIN_WAIT_S: Final = 60.0
# Answers are awaited until the deadline plus this at the latest, so that a run ends within
# its duration + 1.5 s (issue #13) even when a stream's last segment waits for a chain of
# retransmission timeouts (seen once: a 2 Mbit/s upload answered 3.7 s after its deadline).
# An answer later than that leaves the upload uncounted (null and flagged), never wrong,
# unless the server's state of that stream so far covers the window (lateanswers.py).
ANSWER_GRACE_S: Final = 1.2


async def run_direction(
    direction: Direction, address: ServerAddress, plan: MeasurePlan, *, token: str | None,
    on_progress: Callable[[Progress], None] | None = None,
) -> DirectionObservation:
    """Run one direction of ``plan`` against the server and return what was observed."""
    loop = asyncio.get_running_loop()
    pinger = await Pinger(address, token, plan.connect_timeout_s).open()
    loaded: list[tuple[float, float]] = []
    pings: asyncio.Task[None] | None = None
    cpu0, allowance0 = time.process_time(), cpuquota.read_allowance()
    t0 = loop.time()
    try:
        pings = asyncio.create_task(ping_every(pinger, plan.loaded_ping_interval_s, loaded))
        if direction == "down":
            obs = await download(address, plan, token, t0, on_progress, loaded=loaded)
        else:
            obs = await _upload(address, plan, token, t0, on_progress, loaded=loaded)
    finally:
        if pings is not None:
            pings.cancel()
            await asyncio.gather(pings, return_exceptions=True)
        pinger.close()
    return cpuquota.annotate(dataclasses.replace(
        obs, loaded_rtts_ms=tuple(rtt for _, rtt in loaded),
        loaded_ping_times_s=tuple(t - t0 for t, _ in loaded),
        elapsed_s=loop.time() - t0, client_cpu_s=time.process_time() - cpu0), allowance0)


def answer_wait_s(unacked_bytes: Sequence[int | None], rate_bytes_per_s: float,
                  plan: MeasurePlan) -> float:
    """How long to wait for all upload answers: twice the drain time of what is unacknowledged
    (a stream whose count is unknown is assumed to hold ``ASSUMED_UNACKED_BYTES``), plus the
    plan's timeout for the answer itself."""
    held = sum(ASSUMED_UNACKED_BYTES if b is None else b for b in unacked_bytes)
    drain_s = 2 * held / rate_bytes_per_s if rate_bytes_per_s > 0 else MAX_DRAIN_WAIT_S
    return plan.connect_timeout_s + min(MAX_DRAIN_WAIT_S, drain_s)


def queue_delay_s(loaded: Sequence[tuple[float, float]]) -> float | None:
    """The bottleneck queue's delay now: the last loaded round trip above the lowest one.

    The first pings go out before the streams fill the line, so the lowest is about the idle
    round trip; None until there are two.
    """
    if len(loaded) < 2:
        return None
    return max(0.0, loaded[-1][1] - min(rtt for _, rtt in loaded)) / 1000.0


def _drain_s(streams: Sequence[UploadStream], elapsed_s: float,
             queue_delay: float | None, sent_rate: float | None = None) -> float:
    """How long what the streams hold takes to cross the line (0: not known).

    What is queued or in flight at the deadline must still cross the line before the server
    can answer: behind a 0.6 s queue at 0.5 Mbit/s that was 2-3 s. So the streams stop being
    fed that long before the deadline and their last bytes arrive about then; the window ends
    before that moment, so the reading is not biased, and the run ends near its duration.
    Where the kernel says how much it holds (``TIOCOUTQ``), that is the measure. The rate is
    the mean since the start: the acknowledged count stalls in every loss recovery, and a
    stalled rate would stop the streams seconds early.

    Without it (the portable path) the larger of two estimates: the bottleneck's queueing
    delay, read from the loaded pings, plus what waits unsent in the streams (user space and
    the kernel's bounded queue); and what was handed over beyond the rate the kernel now
    takes it at (``sent_rate``, bytes/s over the last two seconds), since the start. The second
    sees the send buffers the first cannot: at 0.5 Mbit/s behind 600 ms they held 2.9 s of
    the line where the first saw 1.4 s, and every answer came too late to be counted.
    """
    sent = sum(s.sent_payload_bytes for s in streams)
    held = [s.unacked_bytes() for s in streams]
    if elapsed_s <= 0 or sent <= 0:
        return 0.0
    if all(h is not None for h in held):
        unacked = sum(h for h in held if h is not None)
        acked = sent - unacked
        return unacked * elapsed_s / acked if acked > 0 else 0.0
    beyond_rate_s = 0.0
    if sent_rate is not None and sent_rate > 0:
        beyond_rate_s = max(0.0, sent / sent_rate - elapsed_s)
    if queue_delay is None:
        return beyond_rate_s
    return max(beyond_rate_s,
               queue_delay + sum(s.unsent_bytes() for s in streams) * elapsed_s / sent)


def _acked(streams: Sequence[UploadStream]) -> int:
    """Payload bytes the kernel says were acknowledged; where it cannot say (no TIOCOUTQ),
    those handed over less what still waits unsent."""
    total = 0
    for s in streams:
        held = s.unacked_bytes()
        total += s.sent_payload_bytes - (s.unsent_bytes() if held is None else held)
    return max(0, total)


async def _upload(address: ServerAddress, plan: MeasurePlan, token: str | None, t0: float,
                  on_progress: Callable[[Progress], None] | None, *,
                  loaded: Sequence[tuple[float, float]]) -> DirectionObservation:
    loop = asyncio.get_running_loop()
    # Each stream named, so that a late one's state can be asked for (probe.client.lateanswers).
    upload_ids = [new_upload_id() for _ in range(plan.streams)]
    heads = [request_head(address, "POST", upload_path(upload_id), token=token, extra=(
        ("Transfer-Encoding", "chunked"), ("Content-Type", "application/octet-stream")))
        for upload_id in upload_ids]
    streams = [upload_stream(address, plan.connect_timeout_s) for _ in range(plan.streams)]
    deadline = t0 + plan.duration_s
    # Streams retired on a slow line finish their body at once (probe.client.retiring).
    retiring = UploadRetirement(streams)
    try:
        opened = await asyncio.gather(
            *(s.open(head) for s, head in zip(streams, heads, strict=True)),
            return_exceptions=True)
        for result in opened:
            if isinstance(result, BaseException):
                raise result
        # The server's clock starts when it reads the first head: about now, on ours.
        server_origin_s = loop.time() - t0
        for stream in streams:
            stream.start()
        sampler = Sampler("upload", plan, t0, on_progress)
        finished: list[asyncio.Future[Response]] = []
        rule = stop_rule(plan)
        acked: list[Sample] = [Sample(0.0, 0)]
        def tune(interval_s: float) -> None:
            for stream in retiring.active:
                stream.tune(interval_s)
            now = loop.time()
            if not finished:
                acked.append(Sample(now - t0, max(acked[-1].total_bytes, _acked(streams))))
                retiring.check(now - t0, acked, [(t - t0, rtt) for t, rtt in loaded])
            if not finished and now >= t0 + plan.duration_s / 2 \
                    and now + _drain_s(streams, now - t0, queue_delay_s(loaded),
                                       recent_rate(sampler.samples, 2.0)) >= deadline:
                finished.append(loop.create_future())  # stop feeding: see _drain_s
            # The adaptive rule judges what crossed the line, as near as the client can see
            # it live: acknowledged bytes (the server's count comes at the end).
            if rule is not None and not finished and rule.update(acked):
                finished.append(loop.create_future())

        await tick_until(deadline, plan, sampler,
                          lambda: sum(s.sent_payload_bytes for s in streams),
                          lambda: bool(finished) or all(s.error is not None for s in streams),
                          on_tick=tune)
        early = sum(1 for s in streams if s.error is not None)
        fed_until_s = loop.time() - t0
        answers = await retiring.finish_all()
        # Now, while every socket is open: each answer closes its connection.
        losses = any_losses(retiring.losses_seen())
        # One deadline for all answers together, sized from what the sockets still hold: a
        # stream behind a deep queue answers seconds after the others, and waiting for each in
        # turn with a fixed limit dropped late answers (issue #13).
        hard_end = deadline + ANSWER_GRACE_S
        wait_s = min(answer_wait_s([s.unacked_bytes() for s in streams],
                                   recent_rate(sampler.samples, 1.0) or 0.0, plan),
                     max(0.0, hard_end - loop.time()))
        answered = await collect_answers(answers, upload_ids, address=address, token=token,
                                         wait_end=loop.time() + wait_s, hard_end=hard_end)
        received = [a for a in answered if a is not None]
    finally:
        retiring.cancel()
        for stream in streams:
            stream.close()
    if sampler.samples[-1].total_bytes == 0:
        raise ServerUnreachable("the server closed the upload streams before taking data")
    complete = len(received) == len(streams)
    reason, precision = stop_outcome(rule)
    return DirectionObservation(
        samples=tuple(sampler.samples), streams_started=plan.streams,
        streams_completed=len(streams) - early,
        server_timelines=tuple(a.samples for a in received) if complete else None,
        server_arrivals=(tuple(a.arrived for a in received)
                         if complete and all(a.arrived for a in received) else None),
        server_received_bytes=sum(a.received_bytes for a in received) if complete else None,
        server_origin_s=server_origin_s, fed_until_s=fed_until_s,
        partial_streams=tuple(i for i, a in enumerate(received) if a.partial) if complete else (),
        stop_reason=reason, stopped_at_s=fed_until_s, rate_precision=precision,
        losses_seen=losses, streams_retired=retiring.retired, retired_at_s=retiring.at_s)
