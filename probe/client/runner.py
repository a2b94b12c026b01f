"""The client's public entry point: run a :class:`MeasurePlan` against a server.

``run_measurement`` is what ``probe measure``, ``probe demo``, the lab tests and the benchmark
harness call. It is stable API: keyword-only options may be added, nothing removed.

Order of a run: idle latency (``ping_count`` round trips on a warm connection), then each
planned direction (download before upload, as every speed test does), each with its loaded
latency side channel. The record's ``started_at`` is the wall clock (aware UTC) when the run
began; every interval inside it comes from the event loop's monotonic clock.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from probe.client.connect import check_token, parse_server_url
from probe.client.pings import idle_round_trips
from probe.client.transfer import run_direction
from probe.engine.plan import MeasurePlan, Progress
from probe.engine.summary import DirectionObservation, build_measurement
from probe.measurement import Measurement


async def run_measurement(
    plan: MeasurePlan,
    server_url: str,
    *,
    token: str | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> Measurement:
    """Measure latency and the plan's directions against ``server_url``.

    ``token`` is sent as ``Authorization: Bearer``. ``on_progress`` is called from the event
    loop with a :class:`Progress` at every sample tick (keep it cheap). Raises
    ``UsageError`` for a bad URL or token, ``ServerUnreachable``/``MeasurementTimeout`` (exit
    3) when the server cannot be reached or stops answering, ``ProtocolViolation`` or
    ``MeasurementError`` when it answers something unusable.
    """
    address = parse_server_url(server_url)
    check_token(token)
    started_at = datetime.now(UTC)
    loop = asyncio.get_running_loop()
    if on_progress is not None:
        on_progress(Progress("latency", 0.0, 0.0))
    t_lat = loop.time()
    rtts = await idle_round_trips(
        address, token, count=plan.ping_count, timeout_s=plan.connect_timeout_s
    )
    if on_progress is not None:
        on_progress(Progress("latency", loop.time() - t_lat, 0.0))
    observed: dict[str, DirectionObservation] = {}
    for direction in ("down", "up"):
        if direction in plan.directions:
            observed[direction] = await run_direction(
                direction, address, plan, token=token, on_progress=on_progress
            )
    if on_progress is not None:
        on_progress(Progress("done", 0.0, 0.0))
    return build_measurement(
        plan,
        measurement_id=str(uuid.uuid4()),
        started_at=started_at,
        server=address.url,
        idle_rtts_ms=rtts,
        download=observed.get("down"),
        upload=observed.get("up"),
    )
