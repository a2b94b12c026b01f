"""Helpers shared by tests and benchmarks: free loopback ports, the probe CLI runner, a real
``probe serve`` child process, waiting for an HTTP endpoint and stopping a child."""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# The line ``probe serve`` prints on stderr once it accepts connections.
SERVE_READY = "probe: serving on "


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop_process(proc: subprocess.Popen[Any] | None, timeout_s: float = 10, *,
                 group: bool = False) -> None:
    """SIGTERM a child, SIGKILL it if it is still there after ``timeout_s``; reap it.

    ``group=True`` signals the child's whole process group (a child started with
    ``start_new_session=True``): servers that fork workers, such as ``php -S`` with
    ``PHP_CLI_SERVER_WORKERS``, leave those workers running when only the parent is told.
    """
    if proc is None:
        return

    def send(sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            if group:
                os.killpg(proc.pid, sig)
            else:
                proc.send_signal(sig)

    if proc.poll() is None:
        send(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            send(signal.SIGKILL)
            proc.wait()
    if group:
        # The leader may be gone while its workers still run.
        send(signal.SIGKILL)


def wait_http(url: str, timeout_s: float = 20) -> None:
    """Poll ``url`` from this process (loopback) until it answers, or raise RuntimeError."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout_s:g} s")


def run_cli(args: Sequence[str], *, timeout_s: float = 120, input_text: str | None = None,
            cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m probe ARGS`` as a user would, capturing text output."""
    return subprocess.run(
        [sys.executable, "-m", "probe", *args],
        capture_output=True, text=True, timeout=timeout_s, input=input_text, cwd=cwd,
        check=False,
    )


def run_clis(arg_lists: Sequence[Sequence[str]], *, timeout_s: float = 120
             ) -> list[subprocess.CompletedProcess[str]]:
    """:func:`run_cli` for several independent commands, two at a time (CI has two cores and
    each command keeps one busy); the results in the order given."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(lambda args: run_cli(args, timeout_s=timeout_s), arg_lists))


@contextlib.contextmanager
def serve_process(*args: str, ready_timeout_s: float = 30) -> Iterator[str]:
    """A real ``probe serve ARGS`` child on a free loopback port; yields its URL.

    Waits for the ready line on stderr, and on exit stops the child's whole process group
    (SIGTERM, then SIGKILL after 10 s) and closes its pipe, also when the test failed.
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", "probe", "serve", "--host", "127.0.0.1", "--port", "0", *args],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True,
    )
    try:
        assert proc.stderr is not None
        url = None
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stderr, selectors.EVENT_READ)
            deadline = time.monotonic() + ready_timeout_s
            while url is None and time.monotonic() < deadline:
                if selector.select(timeout=0.5):
                    line = proc.stderr.readline()
                    if not line:
                        break
                    if line.startswith(SERVE_READY):
                        url = line[len(SERVE_READY):].split()[0]
        assert url is not None, "probe serve did not become ready"
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
