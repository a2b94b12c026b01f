"""`probe agent` end to end on loopback: real `probe serve`, real store, real VictoriaMetrics."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from probe.store import SqliteStore
from tests.servicekit import VictoriaMetrics
from tests.support import ROOT, run_cli, serve_process

pytestmark = pytest.mark.slow


def _events(stdout: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


@pytest.mark.services
def test_runs_n_stores_and_forwards_then_exits(
    tmp_path: Path, write_config: Callable[..., Path], victoria_metrics: VictoriaMetrics,
) -> None:
    with serve_process() as url:
        sink = f'[sink]\nurl = "{victoria_metrics.url}"\nkind = "victoriametrics"\n'
        config = write_config([url, url], extra=sink, probe_id="runs-n")
        assert not (tmp_path / "state").exists()  # starts cleanly before any store exists
        done = run_cli(["agent", "--config", str(config), "--runs", "2"], timeout_s=120)
    assert done.returncode == 0, done.stderr + done.stdout
    events = _events(done.stdout)
    stored = [e for e in events if e["event"] == "test stored"]
    assert len(stored) == 2
    assert events[-1]["event"] == "agent stopped"
    with SqliteStore.open(tmp_path / "state" / "probe.db") as store:
        status = store.status()
        rows = store.history()
        state = store.get_state("agent")
    assert status.measurements == 2
    assert status.backlog == 0
    assert {r.subscriber_id for r in rows} == {"DE-BE-000001"}
    assert {r.contract_ref for r in rows} == {"de-cable-1000"}
    assert state is not None
    assert state["tests_run"] == 2
    series = victoria_metrics.export('broadband_download_mbps{probe_id="runs-n"}')
    stamps = sorted(t for s in series for t in s["timestamps"])
    assert len(stamps) == 2
    # Before each forwarder pass the probe reports its state (broadband_probe). Best effort: a
    # status write that times out on a loaded machine is not retried, so only bounds here.
    completed = victoria_metrics.export('broadband_probe_tests_completed{probe_id="runs-n"}')
    assert {v for s in completed for v in s["values"]} <= {0.0, 1.0, 2.0}
    assert completed
    assert victoria_metrics.export('broadband_probe_outbox_backlog{probe_id="runs-n"}')
    # The fleet labels travel with each point (docs/data-model.md).
    assert {(s["metric"]["plan"], s["metric"]["region"], s["metric"]["technology"])
            for s in series} == {("de-cable-1000", "DE-BE", "cable")}


def test_sigterm_mid_test_leaves_no_half_written_record(
    tmp_path: Path, write_config: Callable[..., Path],
) -> None:
    with serve_process() as url:
        config = write_config([url, url], probe_id="sigterm")
        # Long tests, so the signal lands inside one.
        config.write_text(config.read_text().replace("duration_s = 1", "duration_s = 8"))
        proc = subprocess.Popen(
            [sys.executable, "-m", "probe", "agent", "--config", str(config)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        try:
            assert proc.stdout is not None
            started = False
            deadline = time.monotonic() + 60
            while not started and time.monotonic() < deadline:
                line = proc.stdout.readline()
                started = '"event":"next test"' in line
            assert started
            # The first test starts within ~25 s; signal 3 s into it.
            while time.monotonic() < deadline:
                line = proc.stdout.readline()
                if '"clock not synchronised"' in line:
                    break
            time.sleep(3)
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 0, err
    events = _events(out)
    assert any(e["event"] == "test interrupted" for e in events), out
    assert not any(e["event"] == "test stored" for e in events)
    with SqliteStore.open(tmp_path / "state" / "probe.db") as store:
        assert store.status().measurements == 0
        assert store.integrity_check() == ["ok"]


def test_status_shows_agent_and_campaign_progress(
    tmp_path: Path, write_config: Callable[..., Path],
) -> None:
    with serve_process() as url:
        # us-fcc: its campaign runs beside the regular tests, so the first test is soon.
        config = write_config([url, url], campaign="auto", probe_id="status",
                              contract="us-tier-300.toml")
        done = run_cli(["agent", "--config", str(config), "--runs", "1"], timeout_s=120)
    assert done.returncode == 0, done.stderr
    db = str(tmp_path / "state" / "probe.db")
    status = run_cli(["status", "--db", db, "--json"])
    agent = json.loads(status.stdout)["agent"]
    assert agent["tests_run"] == 1
    assert agent["subscriber_id"] == "US-NY-000001"
    assert agent["campaign"]["profile"] == "us-fcc"
    assert agent["campaign"]["needed"] == 42
    text = run_cli(["status", "--db", db]).stdout
    assert "agent tests          1 run, 0 deferred" in text
    assert "campaign             us-fcc running:" in text
