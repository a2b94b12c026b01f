"""``probe measure`` as a user runs it: against a real ``probe serve`` process, and failing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import free_port, run_cli, serve_process

RECORD_KEYS = {
    "id", "started_at", "server", "backend", "download_mbps", "upload_mbps", "latency_ms",
    "jitter_ms", "loaded_latency_down_ms", "loaded_latency_up_ms", "download_bytes",
    "upload_bytes", "streams", "duration_s", "samples",
}


@pytest.fixture(scope="module")
def serve_url() -> Iterator[str]:
    """A real ``probe serve`` child on a free loopback port, stopped with SIGTERM afterwards."""
    with serve_process() as url:
        yield url


class TestMeasureJson:
    """--json prints exactly one JSON object with the documented fields."""

    def test_both_directions(self, serve_url: str) -> None:
        proc = run_cli(["measure", "--server", serve_url, "--duration", "1", "--streams", "2",
                        "--json"])
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.count("\n") == 1
        record = json.loads(proc.stdout)
        assert record.keys() >= RECORD_KEYS
        assert record["backend"] == "native"
        assert record["streams"] == 2
        assert record["duration_s"] == 1.0
        assert record["started_at"].endswith("+00:00")
        assert record["download_mbps"] > 0
        assert record["upload_mbps"] > 0
        assert record["upload"]["counted_at"] == "server"
        assert len(record["samples"]["latency_ms"]) == 10
        assert record["samples"]["download"][0] == [0.0, 0]

    def test_download_only(self, serve_url: str) -> None:
        proc = run_cli(["measure", "--server", serve_url, "--duration", "1", "--direction",
                        "down", "--json", "--no-store"])
        assert proc.returncode == 0, proc.stderr
        record = json.loads(proc.stdout)
        assert record["download_mbps"] > 0
        assert record["upload_mbps"] is None
        assert record["loaded_latency_up_ms"] is None
        assert record["upload_bytes"] is None

    def test_human_summary(self, serve_url: str) -> None:
        proc = run_cli(["measure", "--server", serve_url, "--duration", "1", "--direction", "up"])
        assert proc.returncode == 0, proc.stderr
        assert "upload" in proc.stdout
        assert "Mbit/s" in proc.stdout
        assert "download  not measured" in proc.stdout
        assert proc.stderr == ""  # no progress display when stderr is not a terminal


class TestMeasureErrors:
    """Failures are one line on stderr with the documented exit code."""

    def test_closed_port_exits_3(self) -> None:
        proc = run_cli(["measure", "--server", f"http://127.0.0.1:{free_port()}", "--duration",
                        "1", "--json"])
        assert proc.returncode == 3
        assert proc.stdout == ""
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1
        assert lines[0].startswith("probe: error: connection refused")

    @pytest.mark.parametrize("args", [
        ["--server", "not a url"],
        ["--server", "http://127.0.0.1:1", "--duration", "0"],
        ["--server", "http://127.0.0.1:1", "--streams", "many"],
        ["--server", "http://127.0.0.1:1", "--direction", "sideways"],
        ["--duration", "1"],
    ])
    def test_usage_errors_exit_2(self, args: list[str]) -> None:
        proc = run_cli(["measure", *args])
        assert proc.returncode == 2
        assert "Traceback" not in proc.stderr

    def test_missing_token_file_exits_2(self, tmp_path: Path) -> None:
        proc = run_cli(["measure", "--server", "http://127.0.0.1:1", "--token-file",
                        str(tmp_path / "absent")])
        assert proc.returncode == 2
        assert proc.stderr.strip().startswith("probe: error: cannot read token file")

    def test_help(self) -> None:
        proc = run_cli(["measure", "--help"])
        assert proc.returncode == 0
        for option in ("--server", "--duration", "--streams", "--direction", "--json",
                       "--token-file"):
            assert option in proc.stdout
