"""Fixtures for the measurement server: in-process apps and real ``probe serve`` processes."""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from probe.server import ServerConfig, create_app
from probe.server.handoff import HandoffRunner

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The real CLI entry point (parser, error mapping), restricted to `serve` so these tests do not
# depend on other commands being importable.
SERVE_MAIN = (
    "import sys; from probe.cli import main; "
    "main.COMMAND_MODULES = ('probe.cli.serve_cmd',); sys.exit(main.main(sys.argv[1:]))"
)
READY_PREFIX = "probe: serving on "

MakeClient = Callable[..., Awaitable[TestClient[Any, Any]]]


class ProbeTestServer(TestServer):
    """aiohttp's test server, with the runner ``probe serve`` uses (upload hand-off included)."""

    async def _make_runner(self, **kwargs: Any) -> web.BaseRunner:
        return HandoffRunner(self.app, **kwargs)


@pytest.fixture
def make_client(aiohttp_client: Any) -> MakeClient:
    """``await make_client(**config_fields)``: a test client on a real loopback server.

    ``handoff=False`` serves through aiohttp's plain runner (uploads read by aiohttp).
    """

    async def make(*, handoff: bool = True, **fields: Any) -> TestClient[Any, Any]:
        fields.setdefault("port", 0)
        app = create_app(ServerConfig(**fields))
        server = ProbeTestServer(app) if handoff else TestServer(app)
        return await aiohttp_client(server)  # type: ignore[no-any-return]

    return make


def serve_command(*args: str) -> list[str]:
    return [sys.executable, "-c", SERVE_MAIN, "serve", *args]


class ServeProcess:
    """A ``probe serve`` child process; ``url`` once its ready line has appeared."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        full_env = {**os.environ, "PYTHONPATH": ROOT, **(env or {})}
        self.proc = subprocess.Popen(
            serve_command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=full_env, cwd=ROOT, start_new_session=True,
        )
        self.lines: list[str] = []

    def wait_ready(self, timeout_s: float = 30) -> str:
        """Read stderr until the ready line; fail with what was printed if it never comes."""
        assert self.proc.stderr is not None
        deadline = time.monotonic() + timeout_s
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stderr, selectors.EVENT_READ)
            while time.monotonic() < deadline:
                if not sel.select(timeout=0.2):
                    if self.proc.poll() is not None:
                        break
                    continue
                line = self.proc.stderr.readline()
                if not line:
                    break
                self.lines.append(line)
                if line.startswith(READY_PREFIX):
                    return line[len(READY_PREFIX):].split(" ")[0]
        pytest.fail(f"no ready line; stderr so far: {self.lines!r}")

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 20) -> tuple[int, str]:
        """Send ``sig`` (0: none), wait for exit; return the exit code and the rest of stderr."""
        if sig and self.proc.poll() is None:
            self.proc.send_signal(sig)
        _, err = self.proc.communicate(timeout=timeout_s)
        return self.proc.returncode, err

    def kill(self) -> None:
        # The whole session: forked workers die with their parent even if it already exited.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.communicate(timeout=10)


@pytest.fixture
def serve_process() -> Iterator[Callable[..., ServeProcess]]:
    """Start ``probe serve ARGS`` processes; every one (and its workers) is killed at the end."""
    started: list[ServeProcess] = []

    def start(*args: str, env: dict[str, str] | None = None) -> ServeProcess:
        process = ServeProcess(*args, env=env)
        started.append(process)
        return process

    try:
        yield start
    finally:
        for process in started:
            process.kill()


@pytest.fixture
def no_error_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail the test if anything logged at ERROR or above while it ran."""
    caplog.set_level(logging.DEBUG)
    yield
    errors = [f"{r.name}: {r.getMessage()}" for r in caplog.get_records("call")
              if r.levelno >= logging.ERROR]
    assert errors == []
