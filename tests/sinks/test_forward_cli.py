"""`probe forward` as the agent runs it: continuously, into a real VictoriaMetrics, picking up new
measurements as they are stored, and stopping cleanly on SIGTERM."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from probe.store import SqliteStore
from tests.servicekit import VictoriaMetrics
from tests.sinks.readback import expected_series, exported_series, varied
from tests.store.clirunner import run_probe, start_probe

pytestmark = pytest.mark.services


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
        proc = start_probe(["forward", "--db", str(db), "--url", victoria_metrics.url,
                            "--kind", "victoriametrics", "--interval", "0.2"],
                           env={"PROBE_INFLUX_TOKEN": "not-needed-by-vm"})
        try:
            wait_for_backlog_zero(db)
            # Stored while the forwarder idles: picked up on its next pass.
            with SqliteStore.open(db) as store:
                for m in measurements[4:]:
                    store.save(m, probe_id="continuous")
            wait_for_backlog_zero(db)
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert proc.returncode == 0, err
        assert "forwarding" in err
        assert "not-needed-by-vm" not in err
        assert exported_series(victoria_metrics, "continuous") == expected_series(
        measurements, {"probe_id": "continuous"})


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
