"""M-Lab ndt7 client (spec v0.11.0): one WebSocket (one TCP connection) per direction.

Download: the server streams binary messages; the client counts them. Upload: the client sends
binary messages of random bytes (8 KiB, doubled while at most 1/16 of what was sent, up to
1 MiB); the rate comes from the *server's* measurements (``TCPInfo.BytesReceived`` over
``TCPInfo.ElapsedTime``), because what the client handed its socket is not what crossed the
line (ndt7-js PR #58). Both directions last :data:`TEST_DURATION_S` (10 s) as the spec says;
a plan shorter than that makes the client close earlier (noted in the record).

Records: the probe's steady-state statistic over the raw counts, like every engine; ndt7's
own figures (whole-test mean, no warm-up discarded: download ``8*NumBytes/ElapsedTime``, upload
the server's last ``BytesReceived/ElapsedTime``) go to ``method.engine_*_mbps``. The quantity
is ``websocket_payload`` (download: WebSocket message payload; upload: TCP payload, which also
counts WebSocket framing, a few bytes per message). ndt7 reports no idle latency; the server's
``MinRTT`` is noted.

Servers: ``--server ws[s]://HOST[:PORT]`` (or ``http[s]://``; an ISP's ``probe serve`` offers
the endpoints), or M-Lab's Locate API. M-Lab publishes every result with the client's IP
address, so measuring against M-Lab needs explicit consent (``EngineOptions.consent``,
``--consent-mlab``); without it the engine refuses before any connection is made.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from probe.engine.foreign import PROBE_STATISTIC, engine_record, whole_run_mbps
from probe.engine.interface import EngineOptions, ProgressCallback
from probe.engine.plan import MeasurePlan, Phase, Progress
from probe.engine.summary import DirectionObservation
from probe.engines import http, locate
from probe.engines.sampling import ByteCounter, run_streams
from probe.errors import ProtocolViolation, UsageError
from probe.measurement import Measurement, Method

NAME: Final = "ndt7"
SUBPROTOCOL: Final = "net.measurementlab.ndt.v7"
TEST_DURATION_S: Final = 10.0
FIRST_MESSAGE_BYTES: Final = 1 << 13
MAX_MESSAGE_BYTES: Final = 1 << 20
MAX_RECEIVE_BYTES: Final = (1 << 24) + 4096
LOCATE_MAX_WAIT_S: Final = 120.0
QUANTITY: Final = "websocket_payload"
CONSENT_MESSAGE: Final = (
    "ndt7: M-Lab publishes every test result together with this client's IP address; "
    "pass --consent-mlab (agent config: consent = true) to agree, or --server URL for a "
    "self-hosted ndt7 server")


def is_mlab(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host.endswith("measurementlab.net") or host.endswith("measurement-lab.org")


def endpoint_urls(server: str) -> tuple[str, str]:
    """(download, upload) WebSocket URLs for a server given as ws[s]:// or http[s]:// base."""
    parts = urlsplit(server.strip())
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None or not parts.hostname:
        raise UsageError(f"not an ndt7 server: {server!r} (expected ws[s]://HOST[:PORT])")
    base = parts.path.rstrip("/")
    for suffix in ("/ndt/v7/download", "/ndt/v7/upload"):
        base = base.removesuffix(suffix)

    def url(path: str) -> str:
        return urlunsplit((scheme, parts.netloc, f"{base}{path}", parts.query, ""))

    return url("/ndt/v7/download"), url("/ndt/v7/upload")


class _Session:
    """What the server measured, as its JSON messages said."""

    def __init__(self) -> None:
        self.server_samples: list[tuple[float, int]] = [(0.0, 0)]
        self.last: dict[str, Any] = {}

    def take(self, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            raise ProtocolViolation("the ndt7 server sent a text message that is not JSON") \
                from None
        if not isinstance(message, dict):
            raise ProtocolViolation("the ndt7 server sent a JSON message that is not an object")
        self.last = message
        tcp = message.get("TCPInfo")
        if isinstance(tcp, dict) and "BytesReceived" in tcp and "ElapsedTime" in tcp:
            t_s, got = float(tcp["ElapsedTime"]) / 1e6, int(tcp["BytesReceived"])
            if t_s >= self.server_samples[-1][0] and got >= self.server_samples[-1][1]:
                self.server_samples.append((t_s, got))


async def _connect(client: aiohttp.ClientSession, url: str, timeout_s: float
                   ) -> aiohttp.ClientWebSocketResponse:
    with http.translated_errors(url, timeout_s):
        try:
            ws = await client.ws_connect(url, protocols=(SUBPROTOCOL,), compress=0,
                                         max_msg_size=MAX_RECEIVE_BYTES, autoping=True)
        except aiohttp.WSServerHandshakeError as exc:
            raise ProtocolViolation(f"{http.where(url)} refused the ndt7 WebSocket "
                                    f"(HTTP {exc.status})") from None
    if ws.protocol != SUBPROTOCOL:
        await ws.close()
        raise ProtocolViolation(f"{http.where(url)} did not agree to {SUBPROTOCOL}")
    return ws


async def _download(client: aiohttp.ClientSession, url: str, timeout_s: float,
                    session: _Session, counter: ByteCounter) -> None:
    ws = await _connect(client, url, timeout_s)
    try:
        with http.translated_errors(url, timeout_s):
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.BINARY:
                    counter.add(len(msg.data))
                elif msg.type == aiohttp.WSMsgType.TEXT:
                    session.take(msg.data)
                elif msg.type == aiohttp.WSMsgType.ERROR:
                    raise ProtocolViolation(f"ndt7 download from {http.where(url)} broke: "
                                            f"{ws.exception()}")
    finally:
        await ws.close()


async def _upload(client: aiohttp.ClientSession, url: str, timeout_s: float,
                  session: _Session, counter: ByteCounter) -> None:
    ws = await _connect(client, url, timeout_s)
    payload = os.urandom(MAX_MESSAGE_BYTES)

    async def read_measurements() -> None:
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                session.take(msg.data)

    reader = asyncio.create_task(read_measurements())
    size = FIRST_MESSAGE_BYTES
    try:
        with http.translated_errors(url, timeout_s):
            while not ws.closed:
                await ws.send_bytes(payload[:size])
                counter.add(size)
                if size < MAX_MESSAGE_BYTES and size <= counter.total / 16:
                    size *= 2
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        await ws.close()


class Ndt7Engine:
    """``probe measure --backend ndt7 [--server ws://HOST:PORT | --consent-mlab]``."""

    name = NAME

    def __init__(self, options: EngineOptions) -> None:
        self.options = options
        if len(options.servers) > 1:
            raise UsageError("the ndt7 backend takes at most one --server")
        mlab = not options.servers or is_mlab(options.servers[0])
        if mlab and not options.consent:
            raise UsageError(CONSENT_MESSAGE)

    async def _target(self, plan: MeasurePlan) -> tuple[str, str, str, str]:
        if self.options.servers:
            down, up = endpoint_urls(self.options.servers[0])
            return down, up, self.options.servers[0], "given"
        targets = await locate.nearest(self.options.locate_url or locate.DEFAULT_LOCATE_URL,
                                       timeout_s=plan.connect_timeout_s,
                                       max_wait_s=LOCATE_MAX_WAIT_S)
        first = targets[0]
        where = f"{first.machine} ({first.location})" if first.location else first.machine
        return first.download_url, first.upload_url, where, "M-Lab Locate API, nearest"

    async def measure(self, plan: MeasurePlan, *, on_progress: ProgressCallback | None = None
                      ) -> Measurement:
        started_at = datetime.now(UTC)
        down_url, up_url, server, selection = await self._target(plan)
        timeout = plan.connect_timeout_s
        sessions: dict[str, _Session] = {}
        observed: dict[str, DirectionObservation] = {}
        async with http.session(timeout) as client:
            for direction, phase, url in (("down", "download", down_url),
                                          ("up", "upload", up_url)):
                if direction not in plan.directions:
                    continue
                session = sessions[direction] = _Session()
                run = _download if direction == "down" else _upload
                observed[direction] = await self._run(
                    plan, phase,  # type: ignore[arg-type]
                    lambda c, run=run, url=url, s=session: run(client, url, timeout, s, c),
                    session if direction == "up" else None, on_progress)
        down, up = observed.get("down"), observed.get("up")
        own_down = own_up = None
        notes = []
        if down is not None:
            app = sessions["down"].last.get("AppInfo", {})
            own_down = whole_run_mbps(down.samples)
            if app.get("ElapsedTime"):
                own_down = float(app["NumBytes"]) * 8 / float(app["ElapsedTime"])
            min_rtt = sessions["down"].last.get("TCPInfo", {}).get("MinRTT")
            if min_rtt:
                notes.append(f"server TCPInfo.MinRTT {min_rtt / 1000:.1f} ms")
        if up is not None and len(sessions["up"].server_samples) > 1:
            t_s, got = sessions["up"].server_samples[-1]
            own_up = got * 8 / t_s / 1e6 if t_s > 0 else None
        if plan.duration_s < TEST_DURATION_S:
            notes.append(f"client closed after {plan.duration_s:g} s (the spec's test is 10 s)")
        if up is not None and up.server_timelines is None:
            notes.append("the server sent no TCPInfo: upload counted at the client")
        method = Method(
            engine="ndt7 v0.11.0 (probe's client, aiohttp WebSocket)", statistic=PROBE_STATISTIC,
            quantity=QUANTITY, overhead="none (WebSocket framing is in the upload TCP count)",
            streams_down=1, streams_up=1, duration_s=min(plan.duration_s, TEST_DURATION_S),
            server=server,
            server_selection=selection,
            engine_statistic="ndt7: whole-test mean, no warm-up discarded; upload from the "
                             "server's TCPInfo.BytesReceived/ElapsedTime",
            engine_download_mbps=own_down, engine_upload_mbps=own_up, notes=tuple(notes),
        )
        return engine_record(plan, backend=NAME, method=method, measurement_id=str(uuid.uuid4()),
                             started_at=started_at, idle_rtts_ms=(), download=down, upload=up)

    @staticmethod
    async def _run(plan: MeasurePlan, phase: Phase, stream: Any, session: _Session | None,
                   on_progress: ProgressCallback | None) -> DirectionObservation:
        def timelines() -> tuple[tuple[tuple[float, int], ...], ...] | None:
            if session is None or len(session.server_samples) < 3:
                return None
            return (tuple(session.server_samples),)

        if on_progress is not None:
            on_progress(Progress(phase, 0.0, min(plan.duration_s, TEST_DURATION_S)))
        # The server ends the test at its 10 s; a close in the last half second is the end of
        # the test, not a stream that stopped early.
        return await run_streams([stream], duration_s=min(plan.duration_s, TEST_DURATION_S),
                                 interval_s=plan.sample_interval_s,
                                 stall_timeout_s=plan.connect_timeout_s, phase=phase,
                                 on_progress=on_progress, server_timelines=timelines,
                                 end_grace_s=0.5)
