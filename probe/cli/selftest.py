"""The client's own throughput ceiling: the client measuring a ``probe serve`` child on
127.0.0.1, cached (probe.hostfacts.ceiling) so that a field visit pays for it once a week.

This module only composes: the server runs as a child process (its own CPU scheduling, as on
a real line), the client is the public ``run_measurement``. 2 s per direction is enough on
loopback: there is no queue to fill and the steady-state rule still discards slow start.
"""

from __future__ import annotations

import asyncio
import os
import selectors
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from probe.environment import Fact
from probe.hostfacts import ceiling as cache

SELFTEST_DURATION_S = 2.0
READY = "probe: serving on "
READY_TIMEOUT_S = 20.0


def ceiling_facts(cache_path: Path, *, refresh: bool = False) -> tuple[list[Fact], bool]:
    """The ceiling facts (from the cache, or a new self-test) and whether a test ran."""
    now = datetime.now(UTC)
    found = None if refresh else cache.load(cache_path, now)
    if found is not None:
        return cache.ceiling_facts(found, f"{cache_path} (cached self-test)"), False
    try:
        measured = run_selftest()
    except (OSError, RuntimeError) as exc:
        return cache.ceiling_facts(None, "loopback self-test", f"self-test failed: {exc}"), True
    cache.save(cache_path, measured)
    return cache.ceiling_facts(measured, "loopback self-test (just run)"), True


def run_selftest() -> cache.Ceiling:
    """Measure both directions against a local server child; raises RuntimeError on failure."""
    from probe.client import run_measurement
    from probe.engine.plan import MeasurePlan
    from probe.errors import ProbeError

    proc = subprocess.Popen(
        [sys.executable, "-m", "probe", "serve", "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        url = _wait_ready(proc)
        plan = MeasurePlan(duration_s=SELFTEST_DURATION_S)
        try:
            record = asyncio.run(run_measurement(plan, url))
        except ProbeError as exc:
            raise RuntimeError(str(exc)) from exc
        if record.download_mbps is None or record.upload_mbps is None:
            raise RuntimeError("the self-test measured no rate")
        return cache.Ceiling(record.download_mbps, record.upload_mbps, record.started_at)
    finally:
        _stop(proc)


def _wait_ready(proc: subprocess.Popen[str]) -> str:
    assert proc.stderr is not None
    deadline = time.monotonic() + READY_TIMEOUT_S
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stderr, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(timeout=0.5):
                continue
            line = proc.stderr.readline()
            if not line:
                break
            if line.startswith(READY):
                return line[len(READY):].split()[0]
    raise RuntimeError("the local server for the self-test did not start")


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    if proc.stderr is not None:
        proc.stderr.close()
