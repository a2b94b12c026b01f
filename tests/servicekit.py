"""Real servers for tests: VictoriaMetrics, InfluxDB 1.x and a scriptable InfluxDB stand-in.

Each server binds a free 127.0.0.1 port, keeps its data in a temp directory, and is stopped by
the fixture that started it (also when the test fails). Import the fixtures into a conftest::

    from tests.servicekit import influxdb1, victoria_metrics  # noqa: F401

``InfluxStub`` answers like InfluxDB's write endpoint with scripted statuses (401, 5xx, 400 ...)
that the real servers cannot be made to give on demand; it is a stand-in for a third-party
server, never for the probe's own.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support import free_port, stop_process

VM_BINARY = shutil.which("victoria-metrics") or "/usr/bin/victoria-metrics"
INFLUXD_BINARY = shutil.which("influxd") or "/usr/bin/influxd"
START_TIMEOUT_S = 30.0


def http(method: str, url: str, data: bytes | None = None, timeout_s: float = 10.0,
         headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """One HTTP request; returns (status, body) also for 4xx/5xx."""
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, ok: set[int]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode}): {log.read_text()[-2000:]}")
        try:
            status, _ = http("GET", url, timeout_s=1.0)
            if status in ok:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"server not ready at {url} after {START_TIMEOUT_S} s")


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    stop_process(proc, timeout_s=15)


class VictoriaMetrics:
    """A single-node VictoriaMetrics with dedup on, so replays collapse like an overwrite."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = self.data_dir / "vm.log"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    VM_BINARY,
                    f"-httpListenAddr=127.0.0.1:{self.port}",
                    f"-storageDataPath={self.data_dir / 'data'}",
                    "-dedup.minScrapeInterval=1ms",
                    # Test records may be old; the default 1-month retention would drop them.
                    "-retentionPeriod=100y",
                    "-loggerLevel=ERROR",
                ],
                stdout=out, stderr=subprocess.STDOUT,
            )
        _wait_ready(f"{self.url}/health", self.proc, log, {200})

    def stop(self) -> None:
        _stop(self.proc)
        self.proc = None

    def force_flush(self) -> None:
        status, _ = http("GET", f"{self.url}/internal/force_flush")
        assert status == 200

    def export(self, selector: str) -> list[dict[str, Any]]:
        """Every series matching ``selector`` (after a flush), as /api/v1/export returns them."""
        self.force_flush()
        query = urllib.parse.urlencode({"match[]": selector})
        status, body = http("GET", f"{self.url}/api/v1/export?{query}")
        assert status == 200, body
        return [json.loads(line) for line in body.decode().splitlines() if line.strip()]

    def write_lines(self, lines: list[str]) -> int:
        status, _ = http("POST", f"{self.url}/write", "\n".join(lines).encode())
        return status

    def query(self, expr: str, at_s: float) -> list[dict[str, Any]]:
        """An instant MetricsQL query at ``at_s`` (after a flush; ``nocache`` so the newest
        samples are not hidden by -search.latencyOffset); the ``result`` list."""
        return self._prometheus("query", expr, time=f"{at_s:.3f}")

    def query_range(self, expr: str, start_s: float, end_s: float, step_s: int
                    ) -> list[dict[str, Any]]:
        """A range query from ``start_s`` to ``end_s`` every ``step_s``; the ``result`` list."""
        return self._prometheus("query_range", expr, start=f"{start_s:.3f}",
                                end=f"{end_s:.3f}", step=f"{step_s}s")

    def _prometheus(self, endpoint: str, expr: str, **params: str) -> list[dict[str, Any]]:
        self.force_flush()
        args = urllib.parse.urlencode({"query": expr, "nocache": "1", **params})
        status, body = http("GET", f"{self.url}/api/v1/{endpoint}?{args}")
        assert status == 200, body
        answer = json.loads(body)
        assert answer["status"] == "success", answer
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result


class InfluxDB1:
    """influxd 1.x (Debian's 1.6.7: v1 API only) with a generated config on loopback ports."""

    def __init__(self, root: Path, *, auth: bool = False) -> None:
        self.root = root
        self.port = free_port()
        self.rpc_port = free_port()
        self.auth = auth
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "influxdb.conf"
        config.write_text(
            f"""reporting-disabled = true
bind-address = "127.0.0.1:{self.rpc_port}"
[meta]
  dir = "{self.root / 'meta'}"
[data]
  dir = "{self.root / 'data'}"
  wal-dir = "{self.root / 'wal'}"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:{self.port}"
  auth-enabled = {'true' if self.auth else 'false'}
  log-enabled = false
[monitor]
  store-enabled = false
[subscriber]
  enabled = false
[continuous_queries]
  enabled = false
"""
        )
        log = self.root / "influxd.log"
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [INFLUXD_BINARY, "run", "-config", str(config)],
                stdout=out, stderr=subprocess.STDOUT,
            )
        _wait_ready(f"{self.url}/ping", self.proc, log, {204})

    def stop(self) -> None:
        _stop(self.proc)
        self.proc = None

    def query(self, q: str, db: str | None = None, method: str = "GET") -> dict[str, Any]:
        params = {"q": q, "epoch": "ns"}
        if db:
            params["db"] = db
        body = urllib.parse.urlencode(params)
        if method == "POST":
            status, data = http("POST", f"{self.url}/query", body.encode(),
                                headers={"Content-Type": "application/x-www-form-urlencoded"})
        else:
            status, data = http("GET", f"{self.url}/query?{body}")
        assert status == 200, data
        return dict(json.loads(data))

    def series(self, q: str, db: str, epoch: str = "ms") -> list[dict[str, Any]]:
        """The series one InfluxQL statement returns (times in ``epoch`` units); fails the
        test if the statement failed."""
        params = urllib.parse.urlencode({"q": q, "db": db, "epoch": epoch})
        status, body = http("GET", f"{self.url}/query?{params}")
        assert status == 200, body
        result = json.loads(body)["results"][0]
        assert "error" not in result, (q, result)
        series: list[dict[str, Any]] = result.get("series", [])
        return series

    def rows(self, q: str, db: str, epoch: str = "ns") -> list[dict[str, Any]]:
        """One dict per returned row: the series' tags plus column -> value."""
        return [{**s.get("tags", {}), **dict(zip(s["columns"], values, strict=True))}
                for s in self.series(q, db, epoch) for values in s["values"]]

    def write(self, db: str, lines: list[str]) -> tuple[int, bytes]:
        return http("POST", f"{self.url}/write?db={db}&precision=ns", "\n".join(lines).encode())


@dataclass
class StubRequest:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: str


@dataclass
class InfluxStub:
    """An aiohttp server in a thread answering every request via ``responder``."""

    responder: Callable[[StubRequest], tuple[int, str]]
    requests: list[StubRequest] = field(default_factory=list)
    port: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        from aiohttp import web

        ready = threading.Event()

        async def handle(request: web.Request) -> web.Response:
            seen = StubRequest(request.path, dict(request.query), dict(request.headers),
                               await request.text())
            self.requests.append(seen)
            status, text = self.responder(seen)
            return web.Response(status=status, text=text, content_type="application/json")

        async def serve() -> None:
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", handle)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            ready.set()
            try:
                await asyncio.Event().wait()
            finally:
                await runner.cleanup()

        def main() -> None:
            self._loop = asyncio.new_event_loop()
            task = self._loop.create_task(serve())
            try:
                self._loop.run_until_complete(task)
            except asyncio.CancelledError:
                pass
            finally:
                self._loop.close()

        self._thread = threading.Thread(target=main, daemon=True)
        self._thread.start()
        assert ready.wait(10)

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            loop = self._loop
            loop.call_soon_threadsafe(lambda: [t.cancel() for t in asyncio.all_tasks(loop)])
            self._thread.join(10)


@pytest.fixture(scope="module")
def victoria_metrics(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VictoriaMetrics]:
    """One VictoriaMetrics per test module; tests keep apart by probe_id label."""
    vm = VictoriaMetrics(tmp_path_factory.mktemp("vm"))
    try:
        vm.start()
        yield vm
    finally:
        vm.stop()


@pytest.fixture
def victoria_metrics_factory(tmp_path: Path) -> Iterator[Callable[[], VictoriaMetrics]]:
    """Unstarted VictoriaMetrics instances the test starts and stops itself (outages)."""
    made: list[VictoriaMetrics] = []

    def make() -> VictoriaMetrics:
        vm = VictoriaMetrics(tmp_path / f"vm{len(made)}")
        made.append(vm)
        return vm

    try:
        yield make
    finally:
        for vm in made:
            vm.stop()


@pytest.fixture(scope="module")
def influxdb1(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxDB1]:
    """One influxd 1.x per test module, auth off."""
    server = InfluxDB1(tmp_path_factory.mktemp("influxdb1"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def influx_stub() -> Iterator[Callable[[Callable[[StubRequest], tuple[int, str]]], InfluxStub]]:
    """Start scripted InfluxDB stand-ins: ``stub = influx_stub(lambda req: (401, '{...}'))``."""
    started: list[InfluxStub] = []

    def start(responder: Callable[[StubRequest], tuple[int, str]]) -> InfluxStub:
        stub = InfluxStub(responder)
        stub.start()
        started.append(stub)
        return stub

    try:
        yield start
    finally:
        for stub in started:
            stub.stop()
