"""kill -9 at random moments: nothing stored is lost, every point arrives once, the file is sound.

A relay in front of a real VictoriaMetrics passes each write through and then holds the 2xx
back for a moment, so many kills land exactly between "the server has the batch" and "the
store marked it delivered" — the window a naive forwarder loses or duplicates data in. The
kills take turns: at the first write (in the window), at a random moment of the batches that
follow it, and at a random moment from start-up on (opening the store, the first write). The
kills alone usually empty the outbox; rounds are bounded (count and time) all the same.
"""

from __future__ import annotations

import random
import threading
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path

import pytest

from probe.sinks.lineprotocol import timestamp_ns
from probe.store import SqliteStore
from tests.servicekit import InfluxStub, StubRequest, VictoriaMetrics, http
from tests.sinks.readback import expected_series, exported_series, varied
from tests.store.clirunner import run_probe, start_probe

pytestmark = [pytest.mark.services, pytest.mark.slow]

COUNT = 120
BATCH = 6
ACK_DELAY_S = 0.12
MAX_ROUNDS = 30
MAX_TIME_S = 40.0


def delivered_in_store(db: Path) -> tuple[set[int], int]:
    """(start times in ms of delivered rows, backlog), checking the file and that none is lost."""
    with SqliteStore.open(db) as store:
        assert store.integrity_check() == ["ok"]
        rows = store.history()
        assert len(rows) == COUNT
        delivered = {timestamp_ns(r.record["started_at"]) // 1_000_000
                     for r in rows if r.delivered_at is not None}
        return delivered, store.status().backlog


def on_server(vm: VictoriaMetrics) -> set[int]:
    """Start times (ms) of the measurements VictoriaMetrics holds (every point has duration_s)."""
    series = vm.export('broadband_duration_s{probe_id="crash"}')
    return {int(t) for item in series for t in item["timestamps"]}


class TestKillNine:
    """Random SIGKILLs of `probe forward` lose nothing and duplicate nothing."""

    def test_random_kills(
        self,
        victoria_metrics_factory: Callable[[], VictoriaMetrics],
        influx_stub: Callable[[Callable[[StubRequest], tuple[int, str]]], InfluxStub],
        tmp_path: Path,
    ) -> None:
        vm = victoria_metrics_factory()
        vm.start()

        relayed = threading.Event()

        def relay(req: StubRequest) -> tuple[int, str]:
            query = urllib.parse.urlencode(req.query)
            status, body = http("POST", f"{vm.url}{req.path}?{query}", req.body.encode())
            relayed.set()
            time.sleep(ACK_DELAY_S)  # the server has it; the forwarder does not know yet
            return status, body.decode()

        proxy = influx_stub(relay)
        db = tmp_path / "probe.db"
        measurements = varied(COUNT)
        with SqliteStore.open(db) as store:
            for m in measurements:
                store.save(m, probe_id="crash")
        args = ["forward", "--once", "--db", str(db), "--url", proxy.url,
                "--kind", "victoriametrics", "--batch-size", str(BATCH)]
        rng = random.Random(20261128)
        rounds = window_hits = 0
        started = time.monotonic()
        while rounds < MAX_ROUNDS and time.monotonic() - started < MAX_TIME_S:
            relayed.clear()
            proc = start_probe(args)
            if rounds % 3 == 2:
                time.sleep(rng.uniform(0.2, 0.9))
            else:
                # Aim at the writes on purpose: start-up alone (~0.7 s, more on a loaded
                # machine) outlasts most delays counted from the start, and the first write is
                # always the first batch.
                relayed.wait(timeout=10)
                if rounds % 3 == 1:
                    time.sleep(rng.uniform(0.0, 1.2))  # some batches later (~0.15 s each)
            proc.kill()  # SIGKILL: no cleanup, no atexit, no rollback
            proc.communicate(timeout=10)
            rounds += 1
            delivered, backlog = delivered_in_store(db)
            # The server holding a point the store has not marked: the kill hit the window.
            window_hits += bool(on_server(vm) - delivered)
            if backlog == 0:
                break
        final = run_probe(args)
        assert final.returncode == 0, final.stderr
        delivered, backlog = delivered_in_store(db)
        assert (len(delivered), backlog) == (COUNT, 0)
        assert rounds >= 3
        assert window_hits >= 1
        # Each measurement exactly once, value for value (dedup collapses the replays).
        assert exported_series(vm, "crash") == expected_series(measurements, {"probe_id": "crash"})
