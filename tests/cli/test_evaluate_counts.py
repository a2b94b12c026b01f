"""``probe evaluate``: one measurement one vote, and every row that does not count, counted.

Through the real CLI, with the example contracts: an export joined with itself gives the same
verdict; a changed copy is refused naming both lines; unlabelled rows in a multi-subscriber
file are counted and said so in text and ``--json``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from tests.support import run_cli

ROOT = Path(__file__).resolve().parent.parent.parent
US_FILE = ROOT / "contracts" / "us-tier-300.toml"
NY = ZoneInfo("America/New_York")


def evening_records(n: int, *, subscriber: str | None = None, day: int = 2,
                    prefix: str = "us") -> list[dict]:
    """``n`` tests in the FCC testing hours (18-24 New York), one every 10 minutes."""
    out = []
    for k in range(n):
        start = datetime(2026, 3, day + k // 36, 18, 0, tzinfo=NY) + timedelta(
            minutes=10 * (k % 36))
        record = {"id": f"{prefix}{k}", "started_at": start.astimezone(UTC).isoformat(),
                  "download_mbps": 290.0, "upload_mbps": 19.0, "latency_ms": 20.0,
                  "flags": []}
        if subscriber is not None:
            record["subscriber_id"] = subscriber
        out.append(record)
    return out


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def evaluate(contract: Path, measurements: Path, *extra: str):
    return run_cli(["evaluate", "--contract", str(contract), "--measurements",
                    str(measurements), *extra], cwd=str(ROOT))


class TestDuplicates:
    def test_export_joined_with_itself_keeps_its_verdict(self, tmp_path: Path) -> None:
        once = write_jsonl(tmp_path / "once.jsonl", evening_records(30))
        both = tmp_path / "both.jsonl"
        both.write_text(once.read_text() * 2)
        alone = evaluate(US_FILE, once, "--json")
        doubled = evaluate(US_FILE, both, "--json")
        assert (alone.returncode, doubled.returncode) == (5, 5), doubled.stderr
        a, d = json.loads(alone.stdout), json.loads(doubled.stdout)
        assert (a["verdict"], d["verdict"]) == ("inconclusive", "inconclusive")
        assert d["criteria"] == a["criteria"]
        assert (d["valid_measurements"], d["not_counted"]["duplicate"]) == (30, 30)
        assert d["input"] == {"rows": 60, "duplicates": 30, "unlabelled": 0,
                              "other_subscribers": 0, "ids_checked": True}
        text = evaluate(US_FILE, both)
        assert "30 valid measurements" in text.stdout
        assert "not counted: 30 duplicates (same id as another row)" in text.stdout
        assert "input: 60 rows read; 30 duplicates dropped (same measurement id)" in text.stdout

    def test_changed_copy_is_an_error_naming_both_lines(self, tmp_path: Path) -> None:
        records = evening_records(3)
        changed = dict(records[1], download_mbps=100.0)
        path = write_jsonl(tmp_path / "m.jsonl", [*records, changed])
        proc = evaluate(US_FILE, path)
        assert proc.returncode == 1
        assert "Traceback" not in proc.stderr
        assert proc.stderr.strip() == (
            f"probe: error: measurement id 'us1' occurs twice with different content: "
            f"{path}:2 and {path}:4 differ in download_mbps (290.0 vs 100.0); one "
            "measurement must have one record")


class TestUnlabelledRows:
    def test_one_contract_owns_unlabelled_rows(self, tmp_path: Path) -> None:
        # The case: an unlabelled row plus a row of another subscriber.
        records = [evening_records(1)[0], evening_records(1, subscriber="X", prefix="x")[0]]
        proc = evaluate(US_FILE, write_jsonl(tmp_path / "m.jsonl", records), "--json")
        out = json.loads(proc.stdout)
        assert out["valid_measurements"] == 1
        assert out["input"]["other_subscribers"] == 1
        assert "1 measurement(s) of subscribers not in" in proc.stderr

    def test_multi_subscriber_file_counts_unlabelled_rows(self, tmp_path: Path) -> None:
        contracts = US_FILE.read_text().replace(
            '[contract]\nsubscriber_id = "US-NY-000001"',
            '[[contract]]\nsubscriber_id = "US-NY-000001"') + (
            '\n[[contract]]\nsubscriber_id = "US-NY-000002"\ntime_zone = "America/New_York"\n')
        fleet = tmp_path / "fleet.toml"
        fleet.write_text(contracts)
        rows = (evening_records(5, subscriber="US-NY-000001", prefix="a")
                + evening_records(4, subscriber="US-NY-000002", prefix="b")
                + evening_records(3, prefix="plain"))
        path = write_jsonl(tmp_path / "m.jsonl", rows)
        proc = evaluate(fleet, path, "--json")
        assert proc.returncode == 5, proc.stderr
        outs = [json.loads(line) for line in proc.stdout.splitlines()]
        assert [o["valid_measurements"] for o in outs] == [5, 4]
        assert all(o["input"]["unlabelled"] == 3 for o in outs)
        assert "3 measurement(s) without a subscriber_id were not counted" in proc.stderr
        text = evaluate(fleet, path)
        assert "3 unlabelled rows not counted (several contracts" in text.stdout
        # --subscriber picks one contract; the unlabelled rows still belong to none.
        one = evaluate(fleet, path, "--subscriber", "US-NY-000001", "--json")
        out = json.loads(one.stdout)
        assert (out["valid_measurements"], out["input"]["unlabelled"]) == (5, 3)


class TestReasonsInText:
    def test_before_start_and_outside_hours(self, tmp_path: Path) -> None:
        contract = tmp_path / "c.toml"
        contract.write_text(US_FILE.read_text().replace(
            'time_zone = "America/New_York"', 'time_zone = "America/New_York"\n'
            'start = 2026-03-03'))
        rows = evening_records(40, day=2)  # 36 on March 2 (before the start), 4 on March 3
        morning = dict(rows[-1], id="morning", started_at=datetime(
            2026, 3, 3, 9, 0, tzinfo=NY).astimezone(UTC).isoformat())
        proc = evaluate(contract, write_jsonl(tmp_path / "m.jsonl", [*rows, morning]))
        assert "1 valid measurement" not in proc.stdout
        assert "5 valid measurements" in proc.stdout
        assert ("not counted: 36 before the contract start (2026-03-03); "
                "1 outside the counting hours") in proc.stdout
