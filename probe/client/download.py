"""The download direction: N ``GET /download`` bodies counted until the deadline.

Each stream asks for the server's byte cap (the client, not the byte count, ends a download
stream) and its body is counted by :class:`HttpConnection` straight out of one shared receive
buffer; the connections are aborted at the deadline. A server started with a lower
``--max-transfer-bytes`` answers 413 naming its cap, and each stream asks again for what it
allows; a body that ends before the deadline is followed by the next request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Final

from probe import wire
from probe.client.connect import ServerAddress, await_answer, open_connection, request_head
from probe.client.http1 import READ_BUFFER_BYTES, HttpConnection
from probe.client.responses import Response, check_status
from probe.client.sampling import Sampler, any_losses, stop_outcome, stop_rule, tick_until
from probe.engine.plan import MeasurePlan, Progress
from probe.engine.streamcount import RetireCheck
from probe.engine.summary import DirectionObservation
from probe.errors import MeasurementTimeout, ProtocolViolation, ServerUnreachable
from probe.measurement import Sample

DOWNLOAD_REQUEST_BYTES: Final = wire.DEFAULT_MAX_TRANSFER_BYTES


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


async def download(address: ServerAddress, plan: MeasurePlan, token: str | None, t0: float,
                   on_progress: Callable[[Progress], None] | None, *,
                   loaded: Sequence[tuple[float, float]] = ()) -> DirectionObservation:
    """Run the download streams from ``t0`` for the plan's duration; what they observed.

    ``loaded``: the side channel's ``(sent at, rtt_ms)`` pings as they arrive, on the loop's
    clock; with the rate they decide whether streams are retired
    (:mod:`probe.engine.streamcount`): a retired stream is closed, and not counted as ended
    early.
    """
    loop = asyncio.get_running_loop()
    shared = bytearray(READ_BUFFER_BYTES)
    conns = await _open_streams(address, plan, lambda: HttpConnection(shared))
    chains: list[asyncio.Task[None]] = []
    retire = RetireCheck(len(conns))
    active = list(conns)
    retired_bytes = [0]  # what the retired streams had counted when they were closed
    # What reached the host, in order or not (probe.engine.arrivals); None once unknown.
    arrived: list[Sample] | None = [Sample(0.0, 0)]
    retired_arrived = [0]
    losses: list[bool | None] = []  # per retired stream, then per stream at the end
    try:
        size = await _start_download(conns[0], address, plan, token, DOWNLOAD_REQUEST_BYTES)
        await asyncio.gather(*(_start_download(c, address, plan, token, size)
                               for c in conns[1:]))
        deadline = t0 + plan.duration_s
        chains = [asyncio.create_task(_keep_downloading(c, address, plan, token, size=size,
                                                     deadline=deadline))
                  for c in conns]
        sampler = Sampler("download", plan, t0, on_progress)
        rule = stop_rule(plan)

        def record_arrived() -> None:
            nonlocal arrived
            counts = [conn.arrived_bytes() for conn in active]
            if arrived is None or any(c is None for c in counts):
                arrived = None
                return
            total = retired_arrived[0] + sum(c for c in counts if c is not None)
            arrived.append(Sample(sampler.samples[-1].t_s, max(total, arrived[-1].total_bytes)))

        def on_tick(interval_s: float) -> None:
            record_arrived()
            for conn in active:
                conn.batch_reads(interval_s)
            keep = retire.due(loop.time() - t0, sampler.samples,
                              [(t - t0, rtt) for t, rtt in loaded])
            if keep is not None and keep < len(active):
                for index in range(keep, len(conns)):
                    retired_bytes[0] += conns[index].body_bytes + conns[index].queued_bytes()
                    retired_arrived[0] += conns[index].arrived_bytes() or 0
                    losses.append(conns[index].losses_seen())
                    chains[index].cancel()
                    conns[index].close()
                del active[keep:]

        def counted() -> int:
            return retired_bytes[0] + sum(c.body_bytes + c.queued_bytes() for c in active)

        def done() -> bool:
            return all(c.ended_at is not None for c in active) or (
                rule is not None and rule.update(sampler.samples))

        await tick_until(deadline, plan, sampler, counted, done, on_tick=on_tick)
        stopped_at_s = loop.time() - t0
        losses.extend(conn.losses_seen() for conn in active)
        ended = [c.ended_at for c in active if c.ended_at is not None and c.ended_at < deadline]
    finally:
        for task in chains:
            task.cancel()
        for conn in conns:
            conn.close()
        await asyncio.gather(*chains, return_exceptions=True)
    if sampler.samples[-1].total_bytes == 0:
        raise ServerUnreachable("the server closed the download streams before sending data")
    reason, precision = stop_outcome(rule)
    return DirectionObservation(
        samples=tuple(sampler.samples), streams_started=plan.streams,
        streams_completed=len(conns) - len(ended),
        all_running_until_s=(min(ended) if ended else deadline) - t0,
        stop_reason=reason, stopped_at_s=stopped_at_s, rate_precision=precision,
        streams_retired=len(conns) - len(active), retired_at_s=retire.at_s,
        arrived_samples=() if arrived is None else tuple(arrived),
        losses_seen=any_losses(losses))
