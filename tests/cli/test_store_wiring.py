"""``probe measure``, ``probe check`` and ``probe demo`` keep every result in the local store
by default, print it even when the store cannot be written, and skip it with ``--no-store``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import ROOT, run_cli, serve_process

CONTRACT = ROOT / "contracts" / "cn-ftth-300.toml"


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    """A real ``probe serve`` child on a free loopback port for the whole module."""
    with serve_process() as url:
        yield url


def history(state_dir: Path) -> list[dict[str, object]]:
    proc = run_cli(["history", "--json", "--db", str(state_dir / "probe.db")])
    assert proc.returncode == 0, proc.stderr
    measurements: list[dict[str, object]] = json.loads(proc.stdout)["measurements"]
    return measurements


class TestMeasureStores:
    """A measurement is committed to the store and can be found again by its id."""

    def test_stored_by_default(self, server_url: str, private_state_dir: Path) -> None:
        proc = run_cli(["measure", "--server", server_url, "--duration", "1", "--streams", "1",
                        "--direction", "down", "--json"])
        assert proc.returncode == 0, proc.stderr
        record = json.loads(proc.stdout)
        stored = history(private_state_dir)
        assert [m["id"] for m in stored] == [record["id"]]
        assert stored[0]["download_mbps"] == record["download_mbps"]

    def test_no_store(self, server_url: str, private_state_dir: Path) -> None:
        proc = run_cli(["measure", "--server", server_url, "--duration", "1", "--streams", "1",
                        "--direction", "down", "--json", "--no-store"])
        assert proc.returncode == 0, proc.stderr
        assert not (private_state_dir / "probe.db").exists()

    def test_unwritable_store_still_prints_result(self, server_url: str,
                                                  tmp_path: Path) -> None:
        """A store that cannot be written costs the user the record's safety, not the result."""
        blocker = tmp_path / "not-a-dir"
        blocker.write_text("a file where the store's directory should be")
        proc = run_cli(["measure", "--server", server_url, "--duration", "1", "--streams", "1",
                        "--direction", "down", "--json", "--db", str(blocker / "probe.db")])
        assert proc.returncode == 1
        assert json.loads(proc.stdout)["download_mbps"] > 0
        assert proc.stderr.startswith("probe: error: measured but NOT stored")
        assert "Traceback" not in proc.stderr


class TestCheckStoresVerdict:
    """``probe check`` stores the record with its subscriber, plan and per-test verdict."""

    def test_verdict_kept(self, server_url: str, private_state_dir: Path) -> None:
        proc = run_cli(["check", "--contract", str(CONTRACT), "--server", server_url,
                        "--duration", "1", "--streams", "2", "--json"])
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout)
        assert out["verdict"] == "pass"
        assert out["stored_in"] == str(private_state_dir / "probe.db")
        (stored,) = history(private_state_dir)
        assert stored["id"] == out["measurement"]["id"]
        assert stored["verdict"] == "pass"
        assert stored["subscriber_id"] == "CN-GD-000001"


class TestDemoEndToEnd:
    """The README's main job measures and judges against the example contract; its record is
    marked demo and kept apart from evidence (a throw-away store unless --db is given)."""

    def test_demo_json_leaves_the_default_store_alone(self, private_state_dir: Path) -> None:
        proc = run_cli(["demo", "--duration", "1", "--streams", "2", "--json"])
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout)
        assert out["check"]["verdict"] == "pass"
        assert out["check"]["profile"] == "cn-miit"
        assert "demo" in out["flags"]
        assert out["stored_in"] is None
        assert list(private_state_dir.iterdir()) == []

    def test_demo_db_keeps_a_marked_record_that_is_never_queued(self, tmp_path: Path) -> None:
        db = tmp_path / "demo.db"
        proc = run_cli(["demo", "--duration", "1", "--streams", "1", "--direction", "down",
                        "--db", str(db)])
        assert proc.returncode == 0, proc.stderr
        assert f"stored    {db}" in proc.stdout
        status = run_cli(["status", "--json", "--db", str(db)])
        assert (json.loads(status.stdout)["measurements"],
                json.loads(status.stdout)["backlog"]) == (1, 0)
        listed = run_cli(["history", "--db", str(db)])
        assert " demo  " in listed.stdout.splitlines()[1]
        exported = run_cli(["export", "--db", str(db)])
        assert (exported.stdout, exported.returncode) == ("", 0)
        assert "1 demo left out; --all includes them" in exported.stderr

    def test_demo_bad_contract(self, tmp_path: Path) -> None:
        bad = tmp_path / "bad.toml"
        bad.write_text("[plan\n")
        proc = run_cli(["demo", "--duration", "1", "--contract", str(bad)])
        assert proc.returncode == 1
        assert proc.stderr.startswith("probe: error:")
        assert "Traceback" not in proc.stderr
