"""``probe demo``: measures against its own loopback server with nothing else running."""

from __future__ import annotations

import json

from tests.support import run_cli


class TestDemo:
    """The README's first command works on a bare machine and says what it measured."""

    def test_json(self) -> None:
        proc = run_cli(["demo", "--duration", "1", "--streams", "2", "--json"])
        assert proc.returncode == 0, proc.stderr
        record = json.loads(proc.stdout)
        assert record["server"].startswith("http://127.0.0.1:")
        assert record["download_mbps"] > 0
        assert record["upload_mbps"] > 0
        assert record["latency_ms"] > 0
        assert "demo" in record["flags"]

    def test_human(self) -> None:
        proc = run_cli(["demo", "--duration", "1", "--direction", "down"])
        assert proc.returncode == 0, proc.stderr
        assert "download" in proc.stdout
        assert "upload    not measured" in proc.stdout
        assert "stored    a throw-away store, deleted now" in proc.stdout

    def test_help(self) -> None:
        proc = run_cli(["demo", "--help"])
        assert proc.returncode == 0
        assert "loopback" in proc.stdout
