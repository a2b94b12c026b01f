"""Ookla's legacy HTTP test through speedtest-cli, used as a library (``pip install
'broadband-probe[speedtest]'``).

Server selection is speedtest-cli's: without ``--server`` it fetches speedtest.net's config and
server list and pings the 5 closest (``latency.txt``, 3 requests each); with one or more
``--server URL`` (a legacy Ookla server or ``probe serve``, which offers the same
``/speedtest/`` endpoints) it pings those and never contacts speedtest.net, using the transfer
plan speedtest.net's config usually gives (:data:`LEGACY_CONFIG`). ``--secure`` makes it use
HTTPS (speedtest.net answers 403 to plain HTTP config requests since about 2022).

speedtest-cli runs threads that read 10 KiB at a time. The probe wraps its opener to count
payload bytes as they arrive (download) or are handed to the socket (upload, so upload is a
client-side count, flagged ``upload_counted_at_client``), samples the counters every 100 ms and
applies its own statistic. speedtest-cli's own figure (all bytes over the whole run, ramp-up
included) is kept in ``method.engine_*_mbps``. Known limit: speedtest-cli reads 200-400 Mbit/s
on gigabit lines (sivel/speedtest-cli #446, #649, #716); a result at or above
:data:`FAST_LINK_MBPS` is flagged ``speedtest_cli_fast_link``.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlsplit

from probe.engine.foreign import PROBE_STATISTIC, engine_record, ookla_trimmed_mbps
from probe.engine.interface import EngineOptions, ProgressCallback
from probe.engine.plan import MeasurePlan, Phase, Progress
from probe.engine.summary import DirectionObservation
from probe.engines import http
from probe.engines.sampling import ByteCounter, run_streams
from probe.errors import MeasurementError, ProtocolViolation, ServerUnreachable
from probe.measurement import Measurement, Method

NAME: Final = "speedtest"
FAST_LINK_MBPS: Final = 200.0
FLAG_FAST_LINK: Final = "speedtest_cli_fast_link"
# What speedtest-cli derives from speedtest.net's usual config (ratio 5, maxchunkcount 50,
# threadsperurl 4, threadcount 4, upload threads 2, testlength 10).
LEGACY_CONFIG: Final[dict[str, Any]] = {
    "client": {"ip": "", "lat": "0", "lon": "0", "isp": "", "isprating": "", "rating": "",
               "ispdlavg": "", "ispulavg": "", "loggedin": "0", "country": ""},
    "ignore_servers": [],
    "sizes": {"upload": [524288, 1048576, 7340032],
              "download": [350, 500, 750, 1000, 1500, 2000, 2500, 3000, 3500, 4000]},
    "counts": {"upload": 17, "download": 4},
    "threads": {"upload": 2, "download": 8},
    "length": {"upload": 10, "download": 10},
    "upload_max": 51,
}


class Shutdown(threading.Event):
    """The stop signal speedtest-cli's threads poll; it calls ``isSet()``, which Python 3.10+
    deprecates with a warning on every read (and 3.13 may remove)."""

    def isSet(self) -> bool:  # noqa: N802 - the name speedtest-cli calls
        return self.is_set()


class CountingOpener:
    """speedtest-cli's opener, counting payload bytes into the current direction's counter."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.counter = ByteCounter()
        self.lock = threading.Lock()

    def _add(self, n: int) -> None:
        with self.lock:  # speedtest-cli's threads all count into one counter
            self.counter.add(n)

    def open(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        data = getattr(request, "data", None)
        if data is not None and hasattr(data, "read"):
            read = data.read

            def counted_read(n: int = 10240) -> bytes:
                chunk: bytes = read(n)
                self._add(len(chunk))
                return chunk

            data.read = counted_read
            return self.inner.open(request, *args, **kwargs)
        return _CountingResponse(self.inner.open(request, *args, **kwargs), self._add)


class _CountingResponse:
    def __init__(self, response: Any, add: Callable[[int], None]) -> None:
        self.response, self.add = response, add

    def read(self, n: int = -1) -> bytes:
        chunk: bytes = self.response.read(n)
        self.add(len(chunk))
        return chunk

    def close(self) -> None:
        self.response.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.response, name)


def _library() -> Any:
    try:
        import speedtest  # noqa: PLC0415 - an optional extra, loaded only for this engine
    except ImportError:
        raise MeasurementError("the speedtest backend needs speedtest-cli: "
                               "pip install 'broadband-probe[speedtest]'") from None
    return speedtest


def legacy_server(url: str, index: int) -> dict[str, Any]:
    """A speedtest-cli server entry for a legacy server's base URL."""
    base = http.check_http_url(url)
    if base.endswith("/upload.php"):
        base = base.rsplit("/", 2)[0]
    elif base.endswith("/speedtest"):
        base = base[: -len("/speedtest")]
    parts = urlsplit(base)
    return {"url": f"{base}/speedtest/upload.php", "name": parts.netloc, "sponsor": parts.netloc,
            "id": str(index), "d": 0.0, "country": "", "cc": "", "host": parts.netloc,
            "lat": "0", "lon": "0"}


class SpeedtestEngine:
    """``probe measure --backend speedtest [--server URL ...] [--secure]``."""

    name = NAME

    def __init__(self, options: EngineOptions, *, speedtest_class: Any = None) -> None:
        self.servers = [legacy_server(url, i) for i, url in enumerate(options.servers)]
        self.secure = options.secure
        self.speedtest_class = speedtest_class

    def _build(self, plan: MeasurePlan, shutdown: threading.Event) -> Any:
        library = _library()
        cls = self.speedtest_class
        if cls is None and self.servers:
            # Given servers: speedtest.net is never contacted, its usual plan is used.
            class Offline(library.Speedtest):  # type: ignore[misc,name-defined]
                def get_config(self) -> dict[str, Any]:
                    self.config.update(_copy(LEGACY_CONFIG))
                    self.lat_lon = (0.0, 0.0)
                    return self.config  # type: ignore[no-any-return]

            cls = Offline
        cls = cls or library.Speedtest
        try:
            st = cls(timeout=plan.connect_timeout_s, secure=self.secure, shutdown_event=shutdown)
            # Run a little past the plan: the probe stops the threads at its own deadline.
            st.config["length"] = {"upload": plan.duration_s + 1, "download": plan.duration_s + 1}
            st.get_best_server(self.servers or None)
        except library.SpeedtestBestServerFailure:
            where = ", ".join(s["url"] for s in self.servers) or "speedtest.net's servers"
            raise ServerUnreachable(f"no speedtest server answered latency.txt ({where})") \
                from None
        except library.ConfigRetrievalError as exc:
            raise ServerUnreachable(f"cannot get speedtest.net's configuration ({exc}); "
                                    "try --secure or --server URL") from None
        except library.SpeedtestException as exc:
            raise ProtocolViolation(f"speedtest-cli: {type(exc).__name__}: {exc}") from None
        return st

    async def measure(self, plan: MeasurePlan, *, on_progress: ProgressCallback | None = None
                      ) -> Measurement:
        started_at = datetime.now(UTC)
        shutdown = Shutdown()
        st = await asyncio.to_thread(self._build, plan, shutdown)
        opener = CountingOpener(st._opener)
        st._opener = opener
        best = st.best
        base = best["url"].rsplit("/", 1)[0]
        async with http.session(plan.connect_timeout_s) as client:
            rtts = await http.http_rtts_ms(client, f"{base}/latency.txt", plan.ping_count,
                                           plan.connect_timeout_s)
        observed: dict[str, DirectionObservation] = {}
        threads: dict[str, int] = {}
        directions: tuple[tuple[str, Phase], ...] = (("down", "download"), ("up", "upload"))
        for direction, phase in directions:
            if direction not in plan.directions:
                continue
            threads[direction] = int(st.config["threads"][phase])
            run = st.download if direction == "down" else (
                lambda: st.upload(pre_allocate=False))
            observed[direction] = await self._direction(
                plan, phase, run, opener=opener, shutdown=shutdown, threads=threads[direction],
                on_progress=on_progress)
        own_down = st.results.download / 1e6 if "down" in observed else None
        own_up = st.results.upload / 1e6 if "up" in observed else None
        flags = [FLAG_FAST_LINK] if max(own_down or 0, own_up or 0) >= FAST_LINK_MBPS else []
        method = Method(
            engine="speedtest-cli " + str(getattr(_library(), "__version__", "?")),
            statistic=PROBE_STATISTIC,
            streams_down=threads.get("down", 0), streams_up=threads.get("up", 0),
            duration_s=plan.duration_s, server=best["url"],
            server_selection=("lowest latency.txt time of given servers" if self.servers
                              else "speedtest.net list, lowest latency of the 5 closest"),
            engine_statistic="speedtest-cli: all bytes over the whole run, ramp-up included",
            engine_download_mbps=own_down, engine_upload_mbps=own_up,
            notes=(f"speedtest-cli ping {best.get('latency', 0):.1f} ms (its own formula)",
                   *_ookla_notes(observed),
                   *(["HTTPS (--secure)"] if self.secure else [])),
        )
        return engine_record(plan, backend=NAME, method=method, measurement_id=str(uuid.uuid4()),
                             started_at=started_at, idle_rtts_ms=rtts,
                             download=observed.get("down"), upload=observed.get("up"),
                             extra_flags=flags)

    @staticmethod
    async def _direction(plan: MeasurePlan, phase: Phase, run: Callable[[], Any], *,
                         opener: CountingOpener, shutdown: threading.Event, threads: int,
                         on_progress: ProgressCallback | None) -> DirectionObservation:
        loop = asyncio.get_running_loop()
        shutdown.clear()

        async def everything(counter: ByteCounter) -> None:
            opener.counter = counter
            future = loop.run_in_executor(None, run)
            try:
                await asyncio.shield(future)
            except asyncio.CancelledError:
                shutdown.set()  # speedtest-cli's threads check it after every read
                await future
                raise

        obs = await run_streams([everything], duration_s=plan.duration_s,
                                interval_s=plan.sample_interval_s,
                                stall_timeout_s=plan.connect_timeout_s, phase=phase,
                                on_progress=on_progress)
        if on_progress is not None:
            on_progress(Progress(phase, plan.duration_s, plan.duration_s))
        # One task drove all of speedtest-cli's threads: they ran (or ended early) together.
        done = threads if obs.streams_completed else 0
        return dataclasses.replace(obs, streams_started=threads, streams_completed=done)


def _ookla_notes(observed: dict[str, DirectionObservation]) -> list[str]:
    """What Ookla's documented legacy statistic (trimmed mean) gives on the same samples."""
    notes = []
    for direction, obs in observed.items():
        trimmed = ookla_trimmed_mbps(obs.samples)
        if trimmed is not None:
            notes.append(f"Ookla legacy trimmed mean ({direction}; 20 slices, fastest 10 % and "
                         f"slowest 30 % dropped): {trimmed:.1f} Mbit/s")
    return notes


def _copy(config: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(config)
