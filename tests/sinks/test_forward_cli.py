"""`probe forward` as the agent runs it: continuously, into a real VictoriaMetrics, picking up new
measurements as they are stored, and stopping cleanly on SIGTERM."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from probe.store import SqliteStore
from tests.servicekit import VictoriaMetrics
from tests.sinks.readback import expected_series, exported_series, varied
from tests.store.clirunner import run_probe, start_probe

pytestmark = pytest.mark.services


@contextlib.contextmanager
def forwarding(args: list[str], env: dict[str, str] | None = None
               ) -> Iterator[subprocess.Popen[str]]:
    """A `probe forward` child that is killed at the end if the test left it running."""
    proc = start_probe(["forward", *args], env=env)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def terminate(proc: subprocess.Popen[str]) -> str:
    """SIGTERM, wait for the exit, return what is left on stderr."""
    proc.send_signal(signal.SIGTERM)
    return proc.communicate(timeout=10)[1]


def wait_for_backlog_zero(db: Path, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with SqliteStore.open(db) as store:
            if store.status().backlog == 0:
                return
        time.sleep(0.1)
    raise AssertionError("the forwarder did not drain the outbox")


class TestContinuousForward:
    """The long-running forwarder delivers what is stored while it runs, then exits 0 on TERM."""

    def test_runs_delivers_and_stops(
        self, victoria_metrics: VictoriaMetrics, tmp_path: Path
    ) -> None:
        db = tmp_path / "probe.db"
        measurements = varied(10)
        with SqliteStore.open(db) as store:
            for m in measurements[:4]:
                store.save(m, probe_id="continuous")
        with forwarding(["--db", str(db), "--url", victoria_metrics.url,
                         "--kind", "victoriametrics", "--interval", "0.2"],
                        env={"PROBE_INFLUX_TOKEN": "not-needed-by-vm"}) as proc:
            wait_for_backlog_zero(db)
            # Stored while the forwarder idles: picked up on its next pass.
            with SqliteStore.open(db) as store:
                for m in measurements[4:]:
                    store.save(m, probe_id="continuous")
            wait_for_backlog_zero(db)
            err = terminate(proc)
        assert proc.returncode == 0, err
        assert "forwarding" in err
        assert "not-needed-by-vm" not in err
        assert exported_series(victoria_metrics, "continuous") == expected_series(
        measurements, {"probe_id": "continuous"})


class TestForwardAsAService:
    """Started by a service manager before the first measurement, forward waits for the store
    (and for the sink) instead of failing; --once keeps failing fast."""

    def test_waits_for_the_store_then_delivers(
        self, victoria_metrics: VictoriaMetrics, tmp_path: Path
    ) -> None:
        db = tmp_path / "later" / "probe.db"
        with forwarding(["--db", str(db), "--url", victoria_metrics.url,
                         "--kind", "victoriametrics", "--interval", "0.2"]) as proc:
            assert proc.stderr is not None
            assert proc.stderr.readline().strip() == (
                f"probe forward: no result store at {db} yet; waiting for the first measurement")
            time.sleep(0.5)
            assert proc.poll() is None
            assert not db.exists()  # waiting never creates the store
            (measurement,) = varied(1)
            with SqliteStore.open(db) as store:
                store.save(measurement, probe_id="late-store")
            wait_for_backlog_zero(db)
            err = terminate(proc)
        assert proc.returncode == 0, err
        assert exported_series(victoria_metrics, "late-store") == expected_series(
            [measurement], {"probe_id": "late-store"})

    def test_once_still_fails_without_a_store(self, tmp_path: Path) -> None:
        result = run_probe(["forward", "--once", "--db", str(tmp_path / "none.db"),
                            "--url", "http://127.0.0.1:9", "--kind", "victoriametrics"])
        assert result.returncode == 2
        assert "no result store at" in result.stderr

    def test_sink_down_is_one_line_per_try_without_library_noise(self, tmp_path: Path) -> None:
        from tests.support import free_port

        db = tmp_path / "probe.db"
        with SqliteStore.open(db) as store:
            store.save(varied(1)[0], probe_id="p")
        url = f"http://127.0.0.1:{free_port()}"
        with forwarding(["--db", str(db), "--url", url, "--kind", "victoriametrics",
                         "--interval", "0.2"]) as proc:
            assert proc.stderr is not None
            # The banner and the first two tries (1 s backoff between them), however slowly
            # a loaded machine starts the process.
            first = [proc.stderr.readline() for _ in range(3)]
            err = "".join(first) + terminate(proc)
        lines = err.splitlines()
        assert lines[0] == f"forwarding {db} to VictoriaMetrics at {url}"
        assert len(lines) >= 3
        for line in lines[1:]:
            assert line.startswith(f"probe forward: cannot reach VictoriaMetrics at {url}: "), line
            assert "next try in" in line
        assert "Retrying" not in err
        assert "bucket" not in err


class TestForwardArguments:
    """Bad forward settings are one line with exit 2, before anything is sent."""

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["--interval", "0"], "--interval must be > 0"),
            (["--kind", "influxdb2"], "needs a token"),
            (["--kind", "influxdb1", "--bucket", "db/rp"], "user:password"),
            (["--url", "ftp://x"], "must look like http://host:port"),
        ],
    )
    def test_refused(self, tmp_path: Path, args: list[str], message: str) -> None:
        db = tmp_path / "probe.db"
        SqliteStore.open(db).close()
        env = {"PROBE_INFLUX_TOKEN": "nocolon"} if "influxdb1" in args else {}
        result = run_probe(["forward", "--once", "--db", str(db),
                            "--url", "http://127.0.0.1:9", *args], env=env)
        assert result.returncode == 2
        assert result.stderr.startswith("probe: error:")
        assert message in result.stderr

    def test_no_sink_configured(self, tmp_path: Path) -> None:
        db = tmp_path / "probe.db"
        SqliteStore.open(db).close()
        result = run_probe(["forward", "--once", "--db", str(db)])
        assert result.returncode == 2
        assert "no sink configured" in result.stderr
