"""`probe history`, `probe export` and `probe status` as a user runs them, including bad input,
a damaged file, a read-only directory and a full disk (the last two in a private mount
namespace: a read-only bind mount and a tiny tmpfs)."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from probe.measurement import Measurement
from probe.store import SqliteStore
from tests.store.builders import make_measurement
from tests.store.clirunner import ROOT, run_probe


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "state" / "probe.db"
    with SqliteStore.open(path) as store:
        for i in range(6):
            store.save(make_measurement(i, samples=10, upload=i != 2), probe_id="probe-x",
                       subscriber_id="sub-1", verdict="pass" if i % 2 else None)
    return path


def needs_namespaces() -> None:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare for a private mount namespace")


def in_private_mounts(setup: str, script: str) -> subprocess.CompletedProcess[str]:
    """Run ``script`` (Python) after the shell ``setup`` in a mount namespace of its own."""
    code = textwrap.dedent(script)
    return subprocess.run(
        ["unshare", "-m", "sh", "-c", f"{setup} && exec {sys.executable} -c \"$0\"", code],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "PYTHONPATH": ROOT}, cwd=ROOT,
    )


class TestHistory:
    """Stored results are listed for people and for scripts."""

    def test_json_is_one_object(self, db: Path) -> None:
        result = run_probe(["history", "--json", "--db", str(db)])
        assert result.returncode == 0, result.stderr
        data = json.loads(result.stdout)
        assert (data["count"], data["order"]) == (6, "newest_first")
        first = data["measurements"][-1]
        assert first["id"] == make_measurement(0).id
        assert (first["probe_id"], first["subscriber_id"]) == ("probe-x", "sub-1")
        assert "samples" not in first
        assert first["delivered_at"] is None

    def test_since_filters(self, db: Path) -> None:
        since = make_measurement(4).started_at.isoformat()
        result = run_probe(["history", "--json", "--since", since, "--db", str(db)])
        assert [m["id"] for m in json.loads(result.stdout)["measurements"]] == [
            make_measurement(i).id for i in (5, 4)]
        recent = run_probe(["history", "--json", "--since", "1h", "--db", str(db)])
        assert json.loads(recent.stdout)["count"] == 0  # all are from March 2026

    def test_table_for_people(self, db: Path) -> None:
        result = run_probe(["history", "--db", str(db)])
        lines = result.stdout.splitlines()
        assert len(lines) == 7
        assert lines[-1].startswith("2026-03-01 12:00:00")
        assert "90.1" in lines[-1]
        assert result.stderr == f"6 measurements in {db}, newest first\n"

    @pytest.mark.parametrize("since", ["yesterday", "2026-13-01", "5x"])
    def test_bad_since_is_one_line(self, db: Path, since: str) -> None:
        result = run_probe(["history", "--since", since, "--db", str(db)])
        assert result.returncode == 2
        assert result.stderr.startswith(f"probe: error: --since {since!r}")
        assert "Traceback" not in result.stderr

    def test_missing_store_is_not_created(self, tmp_path: Path) -> None:
        path = tmp_path / "nope" / "probe.db"
        result = run_probe(["history", "--db", str(path)])
        assert result.returncode == 2
        assert "no result store at" in result.stderr
        assert not path.exists()


class TestExport:
    """Exports read back as the measurement record (JSON lines) or the evaluate CSV."""

    def test_jsonl_round_trips(self, db: Path, tmp_path: Path) -> None:
        out = tmp_path / "export.jsonl"
        result = run_probe(["export", "--db", str(db), "-o", str(out)])
        assert result.returncode == 0, result.stderr
        lines = out.read_text().splitlines()
        records = [json.loads(line) for line in lines]
        assert [Measurement.from_json_dict(r) for r in records] == [
            make_measurement(i, samples=10, upload=i != 2) for i in range(6)]
        assert records[1]["verdict"] == "pass"
        assert records[0]["verdict"] is None

    def test_csv_has_the_evaluate_columns_first(self, db: Path) -> None:
        result = run_probe(["export", "--format", "csv", "--db", str(db)])
        rows = list(csv.DictReader(io.StringIO(result.stdout)))
        assert result.stdout.startswith("started_at,download_mbps,upload_mbps,latency_ms,")
        assert len(rows) == 6
        assert rows[2]["upload_mbps"] == ""
        assert float(rows[0]["download_mbps"]) == make_measurement(0).download_mbps
        assert rows[0]["started_at"] == make_measurement(0).started_at.isoformat()

    def test_unwritable_output_is_one_line(self, db: Path, tmp_path: Path) -> None:
        result = run_probe(["export", "--db", str(db), "-o", str(tmp_path / "no" / "x.csv")])
        assert result.returncode == 2
        assert result.stderr.startswith("probe: error: cannot write")


class TestStatus:
    """Status shows backlog and integrity; a damaged file gives a clear message and is kept."""

    def test_status_json(self, db: Path) -> None:
        result = run_probe(["status", "--json", "--check", "--db", str(db)])
        data = json.loads(result.stdout)
        assert (data["measurements"], data["backlog"], data["integrity"]) == (6, 6, "ok")
        assert data["last_delivery_at"] is None

    def test_damaged_file(self, db: Path) -> None:
        # Overwrite the header and the first pages: what a bad SD card does.
        with SqliteStore.open(db):
            pass
        raw = bytearray(db.read_bytes())
        raw[0:4096] = os.urandom(4096)
        db.write_bytes(bytes(raw))
        commands = (["status"], ["history"], ["export"],
                    ["forward", "--url", "http://127.0.0.1:9", "--kind", "victoriametrics"])
        for command in commands:
            result = run_probe([*command, "--db", str(db)])
            assert result.returncode == 1, command
            assert result.stderr.startswith("probe: error: cannot open the result store")
            assert "left untouched" in result.stderr
            assert "Traceback" not in result.stderr
        assert db.read_bytes() == bytes(raw)


class TestUnwritableStore:
    """Read-only and full disks: a clear message, earlier results intact."""

    def test_read_only_directory(self, db: Path) -> None:
        needs_namespaces()
        state = db.parent
        result = in_private_mounts(
            f"mount --bind -o ro {state} {state}",
            f"""
            from probe.cli.store_cmd import store_measurement
            from probe.errors import StoreError
            from tests.store.builders import make_measurement
            try:
                store_measurement(make_measurement(99), db={str(db)!r}, probe_id="p")
            except StoreError as exc:
                print(exc)
            """,
        )
        assert result.returncode == 0, result.stderr
        assert "is read-only; use a writable --db PATH" in result.stdout, result.stdout
        assert str(db) in result.stdout
        with SqliteStore.open(db) as store:
            assert len(store.history()) == 6
            assert store.integrity_check() == ["ok"]

    def test_full_disk(self, tmp_path: Path) -> None:
        needs_namespaces()
        mnt = tmp_path / "small"
        mnt.mkdir()
        result = in_private_mounts(
            f"mount -t tmpfs -o size=160k tmpfs {mnt}",
            f"""
            import json
            from probe.cli.store_cmd import store_measurement
            from probe.errors import StoreError
            from probe.store import SqliteStore
            from tests.store.builders import make_measurement
            saved, message = 0, None
            for i in range(200):
                try:
                    store_measurement(make_measurement(i), db="{mnt}/probe.db", probe_id="p")
                    saved += 1
                except StoreError as exc:
                    message = str(exc)
                    break
            with SqliteStore.open("{mnt}/probe.db") as store:
                ids = [r.measurement_id for r in store.history()]
                print(json.dumps({{"saved": saved, "message": message, "ids": ids,
                                   "integrity": store.integrity_check()}}))
            """,
        )
        assert result.returncode == 0, result.stderr
        data = json.loads(result.stdout)
        assert data["message"] is not None
        assert "disk is full" in data["message"]
        assert 0 < data["saved"] < 200
        assert data["ids"] == [make_measurement(i).id for i in range(data["saved"])]
        assert data["integrity"] == ["ok"]


class TestExportFeedsEvaluate:
    """`probe evaluate` reads both export formats back and sees the same measurements."""

    def test_jsonl_and_csv_evaluate_alike(self, tmp_path: Path) -> None:
        from tests.support import run_cli

        contract = Path(ROOT) / "contracts" / "us-tier-300.toml"
        probe_help = run_cli(["evaluate", "--help"])
        if probe_help.returncode != 0 or not contract.exists():
            pytest.skip("probe evaluate or its example contract is not available")
        db = tmp_path / "probe.db"
        with SqliteStore.open(db) as store:
            for i in range(10):
                store.save(make_measurement(i, samples=5, flags=("wifi",) if i == 3 else ()),
                           probe_id="p", subscriber_id="US-NY-000001")
        results = []
        for fmt in ("jsonl", "csv"):
            out = tmp_path / f"m.{fmt}"
            assert run_probe(["export", "--format", fmt, "--db", str(db), "-o", str(out)]
                             ).returncode == 0
            evaluated = run_cli(["evaluate", "--contract", str(contract), "--measurements",
                                 str(out), "--json"])
            assert evaluated.returncode in (0, 4, 5), evaluated.stderr
            results.append(json.loads(evaluated.stdout))
        assert results[0] == results[1]
        assert (results[0]["valid_measurements"], results[0]["flagged_measurements"]) == (9, 1)
