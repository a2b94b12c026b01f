"""LibreSpeed client: measure against any LibreSpeed server (PHP backend or compatible).

Endpoints (``librespeed/speedtest`` backend): ``garbage.php?ckSize=N`` streams N MiB of
random data, ``empty.php`` answers pings and swallows upload bodies, ``getIP.php`` names the
client. A server is given by its base URL; the files are looked for at the base and under
``/backend/`` (both layouts exist in the field). With several servers, each gets
:data:`SELECT_PINGS` HTTP pings and the one with the lowest minimum is used, as LibreSpeed's
multi-server page does.

As LibreSpeed's browser client: 6 download and 3 upload streams started 300 ms apart, each
repeating its request until the deadline (``ckSize=100``; 20 MiB upload bodies of random
data). The probe's statistic is applied to the sampled byte counts; LibreSpeed's own figure
(x1.06 after a 1.5 s / 3 s grace period) is kept in ``method.engine_*_mbps``. LibreSpeed's server
reports nothing about uploads, so upload is counted from the server's TCP acknowledgements:
bytes handed to each socket minus what its send queue still holds (SIOCOUTQ), which is what
reached the server; bytes merely buffered are not counted.

A server whose ``getIP.php`` fails (e.g. PHP errors for a missing GeoIP database) is
half-configured: the test still runs, and the record says so (flag ``server_getip_failed``).
A server whose ``garbage.php`` or ``empty.php`` fails cannot be measured (``ProtocolViolation``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import aiohttp

from probe.engine.foreign import (
    LIBRESPEED_GRACE_DOWN_S,
    LIBRESPEED_GRACE_UP_S,
    PROBE_STATISTIC,
    engine_record,
    librespeed_mbps,
)
from probe.engine.interface import EngineOptions, ProgressCallback
from probe.engine.plan import MeasurePlan, Phase, Progress
from probe.engine.summary import DirectionObservation
from probe.engines import http
from probe.engines.sampling import ByteCounter, StreamFactory, run_streams
from probe.errors import MeasurementError, ProtocolViolation, UsageError
from probe.measurement import Measurement, Method

NAME: Final = "librespeed"
DOWNLOAD_STREAMS: Final = 6
UPLOAD_STREAMS: Final = 3
STREAM_STAGGER_S: Final = 0.3
GARBAGE_CHUNKS: Final = 100
UPLOAD_BODY_BYTES: Final = 20 * 1_048_576
UPLOAD_PIECE_BYTES: Final = 1_048_576
SELECT_PINGS: Final = 3
FLAG_GETIP_FAILED: Final = "server_getip_failed"
LAYOUTS: Final = ("", "/backend")


@dataclass(frozen=True, slots=True)
class LibreSpeedServer:
    """Where one server's three files are."""

    base: str
    prefix: str

    def url(self, name: str) -> str:
        return f"{self.base}{self.prefix}/{name}"


async def locate_files(client: aiohttp.ClientSession, base: str, timeout_s: float
                       ) -> LibreSpeedServer:
    """Find ``empty.php`` at ``base`` or ``base/backend``; ProtocolViolation if neither."""
    answers = []
    for prefix in LAYOUTS:
        server = LibreSpeedServer(base, prefix)
        with http.translated_errors(base, timeout_s):
            async with client.get(server.url("empty.php")) as response:
                await response.read()
                if response.status == 200:
                    return server
                answers.append(f"{prefix or '/'}empty.php: HTTP {response.status}")
    raise ProtocolViolation(
        f"{http.where(base)} is not a LibreSpeed server ({'; '.join(answers)})")


async def client_ip(client: aiohttp.ClientSession, server: LibreSpeedServer, timeout_s: float
                    ) -> str | None:
    """``processedString`` from getIP.php, or None when the server cannot answer it."""
    try:
        with http.translated_errors(server.base, timeout_s):
            async with client.get(server.url("getIP.php"), params={"isp": "true"}) as response:
                text = (await response.read()).decode("utf-8", "replace")
                if response.status != 200 or not text.strip():
                    return None
    except ProtocolViolation:
        return None
    try:
        answer = json.loads(text)
    except ValueError:
        # LibreSpeed also allows plain text; a PHP error page is neither an address nor JSON.
        first = text.strip().splitlines()[0]
        return None if "<" in first or "error" in first.lower() else first
    processed = answer.get("processedString") if isinstance(answer, dict) else None
    return processed if isinstance(processed, str) else None


async def _download_stream(client: aiohttp.ClientSession, url: str, timeout_s: float,
                           counter: ByteCounter) -> None:
    params = {"ckSize": str(GARBAGE_CHUNKS)}
    n = 0
    while True:
        n += 1
        with http.translated_errors(url, timeout_s):
            async with client.get(url, params={**params, "r": str(n)}) as response:
                if response.status != 200:
                    raise ProtocolViolation(
                        f"{http.where(url)} answered HTTP {response.status} for garbage.php")
                async for chunk in response.content.iter_any():
                    counter.add(len(chunk))


async def _upload_stream(url: str, timeout_s: float, payload: bytes,
                         counter: ByteCounter) -> None:
    key = id(asyncio.current_task())

    def register(unacked: Callable[[], int]) -> None:
        counter.unacked[key] = unacked

    n = 0
    try:
        while True:
            n += 1
            status = await http.post_stream(
                f"{url}?r={n}", total_bytes=UPLOAD_BODY_BYTES, piece=payload,
                on_sent=counter.add, timeout_s=timeout_s, on_connected=register)
            # The answer came after the whole body: nothing of it is still unacknowledged.
            counter.unacked.pop(key, None)
            if status != 200:
                raise ProtocolViolation(
                    f"{http.where(url)} answered HTTP {status} for an empty.php upload")
    finally:
        counter.unacked.pop(key, None)


class LibreSpeedEngine:
    """``probe measure --backend librespeed``."""

    name = NAME

    def __init__(self, options: EngineOptions) -> None:
        if not options.servers:
            raise UsageError("the librespeed backend needs --server URL (one or more)")
        self.bases = tuple(http.check_http_url(s) for s in options.servers)

    async def _choose(self, client: aiohttp.ClientSession, plan: MeasurePlan
                      ) -> tuple[LibreSpeedServer, str, list[str]]:
        if len(self.bases) == 1:
            return await locate_files(client, self.bases[0], plan.connect_timeout_s), "given", []
        best: tuple[float, LibreSpeedServer] | None = None
        notes: list[str] = []
        failures = []
        for base in self.bases:
            try:
                server = await locate_files(client, base, plan.connect_timeout_s)
                rtt = min(await http.http_rtts_ms(client, server.url("empty.php"), SELECT_PINGS,
                                                  plan.connect_timeout_s))
            except MeasurementError as exc:
                failures.append(f"{http.where(base)}: {exc}")
                continue
            notes.append(f"{base}: min ping {rtt:.1f} ms")
            if best is None or rtt < best[0]:
                best = (rtt, server)
        if best is None:
            raise ProtocolViolation("no LibreSpeed server answered: " + "; ".join(failures))
        return best[1], f"lowest HTTP ping of {len(self.bases)} servers", notes + failures

    async def measure(self, plan: MeasurePlan, *, on_progress: ProgressCallback | None = None
                      ) -> Measurement:
        started_at = datetime.now(UTC)
        timeout = plan.connect_timeout_s
        async with http.session(timeout) as client:
            server, selection, notes = await self._choose(client, plan)
            if on_progress is not None:
                on_progress(Progress("latency", 0.0, 0.0))
            rtts = await http.http_rtts_ms(client, server.url("empty.php"), plan.ping_count,
                                           timeout)
            ip = await client_ip(client, server, timeout)
            flags = [FLAG_GETIP_FAILED] if ip is None else []
            notes.append("getIP.php failed (half-configured server)" if ip is None
                         else f"client: {ip}")
            down = up = None
            if plan.measures_download:
                url = server.url("garbage.php")
                down = await self._run(plan, "download", [
                    lambda c: _download_stream(client, url, timeout, c)
                ] * DOWNLOAD_STREAMS, on_progress)
            if plan.measures_upload:
                url = server.url("empty.php")
                payload = os.urandom(UPLOAD_PIECE_BYTES)
                up = await self._run(plan, "upload", [
                    lambda c: _upload_stream(url, timeout, payload, c)
                ] * UPLOAD_STREAMS, on_progress)
        if up is not None:
            # The samples count what the server's TCP acknowledged (sent minus each socket's
            # unacknowledged queue), i.e. what reached the server: a server-side count, as one
            # merged timeline.
            up = dataclasses.replace(
                up, streams_started=1,
                server_timelines=(tuple((s.t_s, s.total_bytes) for s in up.samples),))
            notes.append("upload counted from the server's TCP acknowledgements "
                         "(bytes sent minus each socket's unacknowledged queue)")
        method = Method(
            engine="LibreSpeed protocol (probe's client)",
            statistic=PROBE_STATISTIC,
            overhead="none (LibreSpeed's own figure multiplies by 1.06; see engine_*_mbps)",
            streams_down=DOWNLOAD_STREAMS, streams_up=UPLOAD_STREAMS,
            duration_s=plan.duration_s, server=server.url(""), server_selection=selection,
            engine_statistic="LibreSpeed browser: mean after 1.5 s (down) / 3 s (up) grace, x1.06",
            engine_download_mbps=_own(down, LIBRESPEED_GRACE_DOWN_S),
            engine_upload_mbps=_own(up, LIBRESPEED_GRACE_UP_S),
            notes=tuple(notes),
        )
        return engine_record(plan, backend=NAME, method=method, measurement_id=str(uuid.uuid4()),
                             started_at=started_at, idle_rtts_ms=rtts, download=down,
                             upload=up, extra_flags=flags)

    @staticmethod
    async def _run(plan: MeasurePlan, phase: Phase, streams: Sequence[StreamFactory],
                   on_progress: ProgressCallback | None) -> DirectionObservation:
        return await run_streams(
            streams, duration_s=plan.duration_s, interval_s=plan.sample_interval_s,
            stall_timeout_s=plan.connect_timeout_s, phase=phase,
            on_progress=on_progress, stagger_s=STREAM_STAGGER_S)


def _own(obs: DirectionObservation | None, grace_s: float) -> float | None:
    return None if obs is None else librespeed_mbps(obs.samples, grace_s)

