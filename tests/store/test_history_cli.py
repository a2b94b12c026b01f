"""`probe history` (newest first, plain dates, subscriber filter, `history void`) and
`probe export` (format from the extension, voided and demo records left out) as a user runs them."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path

import pytest

from probe.store import SqliteStore
from tests.store.builders import BASE_TIME, make_measurement
from tests.store.clirunner import run_probe
from tests.support import run_cli

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """Four measurements a day (06:00, 12:00, 18:00 UTC and 23:59) on March 1-3, two subscribers."""
    path = tmp_path / "probe.db"
    with SqliteStore.open(path) as store:
        for day in range(3):
            for k, minutes in enumerate((360, 720, 1080, 1439)):
                i = day * 4 + k
                start = BASE_TIME.replace(hour=0, minute=0, microsecond=0) + timedelta(
                    days=day, minutes=minutes)
                store.save(make_measurement(i, started_at=start, samples=5), probe_id="p",
                           subscriber_id="A" if k % 2 == 0 else "B")
    return path


def ids(result) -> list[str]:
    assert result.returncode == 0, result.stderr
    return [m["id"] for m in json.loads(result.stdout)["measurements"]]


def mid(i: int) -> str:
    return make_measurement(i).id


class TestHistoryQueries:
    def test_newest_first_by_default_and_limit_takes_the_newest(self, db: Path) -> None:
        assert ids(run_probe(["history", "--json", "--limit", "3", "--db", str(db)])) == [
            mid(11), mid(10), mid(9)]
        assert ids(run_probe(["history", "--json", "--limit", "2", "--oldest-first",
                              "--db", str(db)])) == [mid(0), mid(1)]

    def test_plain_dates_are_utc_days_and_until_includes_its_day(self, db: Path) -> None:
        got = ids(run_probe(["history", "--json", "--since", "2026-03-02", "--until",
                             "2026-03-02", "--oldest-first", "--db", str(db)]))
        assert got == [mid(i) for i in (4, 5, 6, 7)]

    def test_subscriber_filter(self, db: Path) -> None:
        got = ids(run_probe(["history", "--json", "--subscriber", "B", "--until", "2026-03-01",
                             "--db", str(db)]))
        assert got == [mid(3), mid(1)]

    def test_since_after_until_is_one_line(self, db: Path) -> None:
        result = run_probe(["history", "--since", "2026-03-03", "--until", "2026-03-01",
                            "--db", str(db)])
        assert result.returncode == 2
        assert result.stderr.startswith("probe: error: --since 2026-03-03 is not before")


class TestVoid:
    def test_void_is_kept_shown_and_left_out(self, db: Path, tmp_path: Path) -> None:
        result = run_probe(["history", "void", mid(4), "--reason", "router rebooted",
                            "--by", "alice", "--db", str(db)])
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"voided {mid(4)} (started ")
        assert " by alice at 20" in result.stdout
        assert result.stdout.rstrip().endswith(": router rebooted")
        listed = json.loads(run_probe(["history", "--json", "--db", str(db)]).stdout)
        (voided,) = [m for m in listed["measurements"] if m["voided"]]
        assert voided["id"] == mid(4)
        assert (voided["voided"]["by"], voided["voided"]["reason"]) == ("alice", "router rebooted")
        table = run_probe(["history", "--db", str(db)]).stdout.splitlines()
        assert next(line for line in table if " void " in line).endswith(mid(4))
        status = json.loads(run_probe(["status", "--json", "--db", str(db)]).stdout)
        assert (status["voided"], status["backlog"], status["measurements"]) == (1, 11, 12)
        # export leaves it out as evidence; --all keeps it, marked, and evaluate skips it
        plain = run_probe(["export", "--db", str(db)])
        assert mid(4) not in plain.stdout
        assert "1 voided left out; --all includes them" in plain.stderr
        everything = tmp_path / "all.jsonl"
        run_probe(["export", "--all", "-o", str(everything), "--db", str(db)])
        records = [json.loads(x) for x in everything.read_text().splitlines()]
        assert [r["voided"]["reason"] for r in records if "voided" in r] == ["router rebooted"]
        contract = tmp_path / "c.toml"
        contract.write_text('[plan]\nid = "p"\nname = "P"\ntechnology = "FTTH"\nprofile = '
                            '"custom"\n[plan.download]\nminimum_mbps = 50\n[[contract]]\n'
                            'subscriber_id = "A"\ntime_zone = "UTC"\n[[contract]]\n'
                            'subscriber_id = "B"\ntime_zone = "UTC"\n')
        evaluated = run_cli(["evaluate", "--contract", str(contract), "--measurements",
                             str(everything), "--json", "--subscriber", "A"], cwd=str(ROOT))
        out = json.loads(evaluated.stdout)
        assert (out["valid_measurements"], out["not_counted"]["voided"]) == (5, 1)

    def test_void_twice_unknown_and_without_reason(self, db: Path) -> None:
        assert run_probe(["history", "void", mid(1), "--reason", "x", "--db",
                          str(db)]).returncode == 0
        again = run_probe(["history", "void", mid(1), "--reason", "y", "--db", str(db)])
        assert again.returncode == 1
        assert f"measurement {mid(1)} was already voided at" in again.stderr
        unknown = run_probe(["history", "void", "nope", "--reason", "y", "--db", str(db)])
        assert unknown.returncode == 1
        assert unknown.stderr.startswith("probe: error: no measurement 'nope' in ")
        ambiguous = run_probe(["history", "void", "00000000", "--reason", "y", "--db", str(db)])
        assert "matches several measurements" in ambiguous.stderr
        missing = run_probe(["history", "void", mid(2), "--db", str(db)])
        assert missing.returncode == 2
        assert "--reason" in missing.stderr
        for result in (again, unknown, ambiguous, missing):
            assert "Traceback" not in result.stderr


class TestExportFormat:
    def test_format_follows_the_extension(self, db: Path, tmp_path: Path) -> None:
        out = tmp_path / "data.csv"
        result = run_probe(["export", "-o", str(out), "--subscriber", "A", "--db", str(db)])
        assert result.returncode == 0, result.stderr
        assert "exported 6 measurements as csv" in result.stderr
        rows = list(csv.DictReader(io.StringIO(out.read_text())))
        assert {r["subscriber_id"] for r in rows} == {"A"}
        jsonl = tmp_path / "data.jsonl"
        run_probe(["export", "-o", str(jsonl), "--db", str(db)])
        assert json.loads(jsonl.read_text().splitlines()[0])["id"] == mid(0)

    def test_unknown_extension_is_one_line(self, db: Path, tmp_path: Path) -> None:
        result = run_probe(["export", "-o", str(tmp_path / "data.txt"), "--db", str(db)])
        assert result.returncode == 2
        assert result.stderr.strip() == (
            f"probe: error: cannot tell the format from '{tmp_path / 'data.txt'}': name the "
            "file .csv or .jsonl, or pass --format jsonl|csv")
        assert not (tmp_path / "data.txt").exists()
