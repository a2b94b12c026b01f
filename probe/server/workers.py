"""``serve(config, workers)``: one process, or N forked workers sharing a port (SO_REUSEPORT).

One Python process saturates one core long before a fast line does, so a test host runs a
worker per core; the kernel spreads incoming connections over the workers' sockets. The parent
serves nothing: it forks, waits until every worker listens, forwards SIGTERM/SIGINT and reaps.
A worker that dies on its own takes the others down with it (exit 1), rather than leaving a
server that silently runs at a fraction of its capacity.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import replace

from probe.errors import ProbeError
from probe.server.config import ServerConfig
from probe.server.runner import RunningServer, check_bindable, run_worker

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def serve(config: ServerConfig, workers: int, on_ready: Callable[[str], None]) -> None:
    """Serve until SIGTERM/SIGINT; ``on_ready(url)`` once every worker is listening."""
    if workers < 1:
        raise ProbeError(f"--workers must be >= 1, got {workers}")
    if workers == 1:
        run_worker(config, reuse_port=False, on_ready=lambda server: on_ready(server.url))
        return
    config = replace(config, port=check_bindable(config))
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)  # no signal until handlers exist
    read_fd, write_fd = os.pipe()
    pids: list[int] = []
    try:
        for _ in range(workers):
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:  # pragma: no cover - runs in the child, which never returns
                os.close(read_fd)
                _child(config, write_fd)
            pids.append(pid)
    finally:
        os.close(write_fd)
    stopping = False

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        _signal_all(pids, signal.SIGTERM)

    for sig in STOP_SIGNALS:
        signal.signal(sig, forward)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    try:
        url = _await_ready(read_fd, pids, workers, lambda: stopping)
        if url is not None:
            on_ready(url)
        _reap(pids, lambda: stopping)
    finally:
        os.close(read_fd)
        _stop_all(pids)  # only those still alive after an error


def _child(config: ServerConfig, write_fd: int) -> None:  # pragma: no cover - child process
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)

    def ready(server: RunningServer) -> None:
        os.write(write_fd, f"R{server.url}\n".encode())

    code = 0
    try:
        run_worker(config, reuse_port=True, on_ready=ready)
    except ProbeError as exc:
        os.write(write_fd, f"E{exc}\n".encode())
        code = 1
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        sys.stderr.flush()
        os._exit(code)


def _await_ready(
    read_fd: int, pids: list[int], workers: int, stopping: Callable[[], bool]
) -> str | None:
    """The URL once all workers report ready; ProbeError with a worker's reason otherwise."""
    buffer = b""
    ready = 0
    url = ""
    while ready < workers and not stopping():
        readable, _, _ = select.select([read_fd], [], [], 0.2)
        if readable:
            data = os.read(read_fd, 4096)
            if not data:
                raise ProbeError("a server worker exited before it was ready")
            buffer += data
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                text = line.decode(errors="replace")
                if text.startswith("E"):
                    raise ProbeError(text[1:])
                ready += 1
                url = text[1:]
        for pid in list(pids):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                pids.remove(pid)
                raise ProbeError(f"server worker {pid} exited with status {status}")
    return url if ready == workers else None


def _reap(pids: list[int], stopping: Callable[[], bool]) -> None:
    while pids:
        pid, status = os.waitpid(-1, 0)
        if pid not in pids:
            continue
        pids.remove(pid)
        code = os.waitstatus_to_exitcode(status)
        if not stopping():
            raise ProbeError(f"server worker {pid} exited unexpectedly (code {code})")


def _stop_all(pids: list[int], grace_s: float = 3.0) -> None:
    """SIGTERM the remaining workers, SIGKILL those that outlive ``grace_s``, reap all."""
    _signal_all(pids, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while pids and time.monotonic() < deadline:
        for pid in list(pids):
            if os.waitpid(pid, os.WNOHANG)[0]:
                pids.remove(pid)
        time.sleep(0.05)
    _signal_all(pids, signal.SIGKILL)
    for pid in pids:
        os.waitpid(pid, 0)
    pids.clear()


def _signal_all(pids: list[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
