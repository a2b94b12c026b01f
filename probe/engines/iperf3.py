"""iperf3 engine: ``iperf3 -c HOST -J`` as a subprocess, for engineers with an iperf3 server.

Download runs ``-R`` (the server sends), upload without it; each with ``-P`` = the plan's
streams, ``-t`` = its duration and ``-i 0.1`` so the probe's statistic gets 100 ms samples.
No ``-O``: the probe's steady-state rule discards the warm-up from the raw intervals instead;
iperf3's own figure (``end.sum_received``: receiver bytes over the whole test) is kept in
``method.engine_*_mbps``. Upload is counted by the receiving server when the server returns
JSON intervals at <= 250 ms (``iperf3 -s -J -i 0.1``, asked for with ``--get-server-output``),
else by the client's send count and flagged ``upload_counted_at_client``. iperf3 does not
measure idle latency; ``latency`` stays null and the mean TCP RTT under load is noted.

Errors iperf3 reports in its JSON ``error`` are mapped: refused / no route / unresolvable ->
``ServerUnreachable``, "busy" -> ``ServerUnreachable`` (one test at a time), a control
connection that times out -> ``MeasurementTimeout``, anything else -> ``MeasurementError``.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import statistics
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any, Final

from probe.engine.foreign import PROBE_STATISTIC, engine_record
from probe.engine.interface import EngineOptions, ProgressCallback
from probe.engine.plan import MeasurePlan, Phase, Progress
from probe.engine.summary import DirectionObservation
from probe.errors import (
    MeasurementError,
    MeasurementTimeout,
    ProtocolViolation,
    ServerUnreachable,
    UsageError,
)
from probe.measurement import Measurement, Method, Sample

NAME: Final = "iperf3"
DEFAULT_PORT: Final = 5201
INTERVAL_S: Final = 0.1
SERVER_TIMELINE_MAX_INTERVAL_S: Final = 0.25
UNREACHABLE_HINTS: Final = ("refused", "no route", "resolve", "unreachable", "busy",
                            "name or service not known")


def parse_target(text: str) -> tuple[str, int]:
    """``host``, ``host:port``, ``[v6]:port`` or ``iperf3://host:port`` -> (host, port)."""
    target = text.strip().removeprefix("iperf3://").rstrip("/")
    if not target or any(c.isspace() for c in target) or "/" in target:
        raise UsageError(f"not an iperf3 server: {text!r} (expected HOST[:PORT])")
    if target.startswith("["):
        host, _, rest = target[1:].partition("]")
        port_text = rest.removeprefix(":")
    elif target.count(":") == 1:
        host, port_text = target.split(":")
    else:
        host, port_text = target, ""
    try:
        port = int(port_text) if port_text else DEFAULT_PORT
    except ValueError:
        raise UsageError(f"not an iperf3 server: {text!r} (bad port)") from None
    if not 0 < port < 65536:
        raise UsageError(f"not an iperf3 server: {text!r} (port out of range)")
    return host, port


def cumulative(intervals: Sequence[Mapping[str, Any]]) -> tuple[Sample, ...]:
    """iperf3 ``intervals[].sum`` -> cumulative samples starting at (0, 0)."""
    samples = [Sample(0.0, 0)]
    total = 0
    for interval in intervals:
        part = interval["sum"]
        if part.get("omitted"):
            continue
        total += int(part["bytes"])
        samples.append(Sample(float(part["end"]), total))
    return tuple(samples)


def server_timelines(intervals: Sequence[Mapping[str, Any]], streams: int
                     ) -> tuple[tuple[tuple[float, int], ...], ...] | None:
    """Per-stream receiver timelines from the server's JSON, if fine-grained enough.

    A server run with its default 1 s interval gives too few points for the steady-state
    rule; then None (the client's send count is used and the record says so).
    """
    series: list[list[tuple[float, int]]] = [[(0.0, 0)] for _ in range(streams)]
    try:
        for interval in intervals:
            parts = interval["streams"]
            if len(parts) != streams:
                return None
            for line, part in zip(series, parts, strict=True):
                line.append((float(part["end"]), line[-1][1] + int(part["bytes"])))
    except (KeyError, TypeError, ValueError):
        return None
    steps = [b[0] - a[0] for a, b in pairwise(series[0])]
    if not steps or statistics.median(steps) > SERVER_TIMELINE_MAX_INTERVAL_S:
        return None
    return tuple(tuple(line) for line in series)


def error_for(message: str, where: str, timeout_s: float) -> MeasurementError:
    lower = message.lower()
    if "timed out" in lower or "timeout" in lower:
        return MeasurementTimeout(f"iperf3 server {where} did not answer within "
                                  f"{timeout_s:g} s ({message})")
    if any(hint in lower for hint in UNREACHABLE_HINTS):
        return ServerUnreachable(f"iperf3 server {where}: {message}")
    return MeasurementError(f"iperf3 against {where}: {message}")


class Iperf3Engine:
    """``probe measure --backend iperf3 --server HOST[:PORT]``."""

    name = NAME

    def __init__(self, options: EngineOptions, *, binary: str = "iperf3") -> None:
        if len(options.servers) != 1:
            raise UsageError("the iperf3 backend needs exactly one --server HOST[:PORT]")
        self.host, self.port = parse_target(options.servers[0])
        self.binary = binary

    @property
    def where(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    async def _run(self, plan: MeasurePlan, reverse: bool) -> dict[str, Any]:
        path = shutil.which(self.binary)
        if path is None:
            raise MeasurementError("iperf3 is not installed (apt-get install iperf3)")
        argv = [path, "-c", self.host, "-p", str(self.port), "-J", "-t", f"{plan.duration_s:g}",
                "-i", str(INTERVAL_S), "-P", str(plan.streams), "--get-server-output",
                "--connect-timeout", str(int(plan.connect_timeout_s * 1000))]
        if reverse:
            argv.append("-R")
        proc = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            async with asyncio.timeout(plan.duration_s + 2 * plan.connect_timeout_s + 5):
                out, err = await proc.communicate()
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise MeasurementTimeout(f"iperf3 against {self.where} did not finish") from None
        try:
            report = json.loads(out)
        except ValueError:
            text = (err or out).decode("utf-8", "replace").strip().splitlines()
            raise error_for(text[-1] if text else f"exit {proc.returncode}", self.where,
                            plan.connect_timeout_s) from None
        if not isinstance(report, dict):
            raise ProtocolViolation(f"iperf3 printed no JSON object for {self.where}")
        if report.get("error"):
            raise error_for(str(report["error"]), self.where, plan.connect_timeout_s)
        return report

    def _observe(self, report: Mapping[str, Any], streams: int, reverse: bool
                 ) -> tuple[DirectionObservation, float | None, float | None]:
        try:
            samples = cumulative(report["intervals"])
            end = report["end"]
            own = float(end["sum_received"]["bits_per_second"]) / 1e6
            rtts = [s["sender"]["mean_rtt"] / 1000.0 for s in end.get("streams", ())
                    if "mean_rtt" in s.get("sender", {})]
            cpu = end.get("cpu_utilization_percent", {}).get("host_total")
        except (KeyError, TypeError, ValueError) as exc:
            raise ProtocolViolation(f"iperf3 JSON from {self.where} lacks {exc}") from None
        server = report.get("server_output_json")
        timelines = (server_timelines(server["intervals"], streams)
                     if not reverse and isinstance(server, dict) and server.get("intervals")
                     else None)
        duration = samples[-1].t_s if samples else 0.0
        obs = DirectionObservation(
            samples=samples, streams_started=streams, streams_completed=streams,
            server_timelines=timelines,
            server_received_bytes=(None if timelines is None
                                   else sum(tl[-1][1] for tl in timelines)),
            elapsed_s=duration,
            client_cpu_s=None if cpu is None else float(cpu) / 100.0 * duration,
        )
        return obs, own, statistics.mean(rtts) if rtts else None

    async def measure(self, plan: MeasurePlan, *, on_progress: ProgressCallback | None = None
                      ) -> Measurement:
        started_at = datetime.now(UTC)
        observed: dict[str, tuple[DirectionObservation, float | None, float | None]] = {}
        for direction, reverse in (("down", True), ("up", False)):
            if direction in plan.directions:
                phase: Phase = "download" if reverse else "upload"
                if on_progress is not None:
                    on_progress(Progress(phase, 0.0, plan.duration_s))
                report = await self._run(plan, reverse)
                observed[direction] = self._observe(report, plan.streams, reverse)
        down, up = observed.get("down"), observed.get("up")
        notes = [f"mean TCP RTT under load {direction}: {rtt:.1f} ms"
                 for direction, (_, _, rtt) in observed.items() if rtt is not None]
        method = Method(
            engine="iperf3 -J (subprocess)", statistic=PROBE_STATISTIC,
            streams_down=plan.streams, streams_up=plan.streams, duration_s=plan.duration_s,
            server=f"iperf3://{self.where}",
            engine_statistic="iperf3: receiver bytes over the whole test (no -O omit)",
            engine_download_mbps=None if down is None else down[1],
            engine_upload_mbps=None if up is None else up[1],
            notes=tuple(notes),
        )
        return engine_record(
            plan, backend=NAME, method=method, measurement_id=str(uuid.uuid4()),
            started_at=started_at, idle_rtts_ms=(), download=None if down is None else down[0],
            upload=None if up is None else up[0])
