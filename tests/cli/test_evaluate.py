"""``probe evaluate`` and ``probe contracts validate`` as a user runs them (subprocesses)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.support import run_cli

ROOT = Path(__file__).resolve().parent.parent.parent
DE_FILE = ROOT / "contracts" / "de-cable-1000.toml"


def _campaign_jsonl(path: Path, below_normal: int = 0, subscriber: str | None = None,
                    days: tuple[int, ...] = (2, 4, 6)) -> Path:
    """A de-bnetza campaign for contracts/de-cable-1000.toml as probe measure --json lines."""
    tz = ZoneInfo("Europe/Berlin")
    lines, n = [], 0
    for day in days:
        for k in range(10):
            start = datetime(2026, 3, day, 8, 0, tzinfo=tz) + timedelta(minutes=10 * k)
            start += timedelta(hours=3) if k >= 5 else timedelta()
            down = 950.0 if k == 0 else (800.0 if n < below_normal + 1 and k else 870.0)
            record = {"id": f"{subscriber or ''}m{n}",
                      "started_at": start.astimezone(UTC).isoformat(),
                      "download_mbps": down, "upload_mbps": 46.0 if k == 0 else 40.0,
                      "latency_ms": 12.0, "flags": []}
            if subscriber:
                record["subscriber_id"] = subscriber
            lines.append(json.dumps(record))
            n += 1
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _one_error_line(proc, code: int) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("probe: error: ")
    return lines[0].removeprefix("probe: error: ")


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


GOOD_PLAN = """\
[plan]
name = "Kabel"
technology = "cable"
profile = "de-bnetza"

[plan.download]
maximum_mbps = 1000
normally_available_mbps = 850
minimum_mbps = 600

[contract]
subscriber_id = "A"
time_zone = "Europe/Berlin"
"""


class TestContractsValidate:
    """One line per problem naming file, line and key; exit 1; never a traceback."""

    def test_examples_are_valid(self) -> None:
        proc = run_cli(["contracts", "validate", "contracts"], cwd=str(ROOT))
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.count("\nok ") + proc.stdout.startswith("ok ") == 6

    @pytest.mark.parametrize(("old", "new", "message"), [
        ('[plan.download]', '[plan.download', ":6: not valid TOML: "),
        ('profile = "de-bnetza"', 'profile = "de-bnetz"',
         ":4: plan.profile: unknown profile 'de-bnetz' (known: cn-miit, de-bnetza, eu-berec, "
         "uk-ofcom, us-fcc, custom)"),
        ("minimum_mbps = 600", "minimum_mbps = -600",
         ":9: plan.download.minimum_mbps: must be a number > 0, got -600"),
        ("minimum_mbps = 600\n", "",
         ":6: plan.download.minimum_mbps: is required by profile de-bnetza"),
        ("minimum_mbps = 600", "minimum_mbps = 1200",
         ":9: plan.download.minimum_mbps: minimum (1200) must not exceed normally_available (850)"),
        ('"Europe/Berlin"', '"Europe/Berlín"',
         ":13: contract.time_zone: unknown IANA time zone 'Europe/Berlín'"),
        ('[contract]', '[plan.rules]\ngap_h = "3h"\n\n[contract]',
         ":12: plan.rules.gap_h: must be a finite number, got '3h'"),
    ])
    def test_bad_file(self, tmp_path: Path, old: str, new: str, message: str) -> None:
        assert old in GOOD_PLAN
        path = _write(tmp_path, "c.toml", GOOD_PLAN.replace(old, new))
        proc = run_cli(["contracts", "validate", str(path)], cwd=str(ROOT))
        line = _one_error_line(proc, 1)
        assert line.startswith(f"{path}{message}")

    def test_every_problem_is_listed_and_good_files_still_reported(self, tmp_path: Path) -> None:
        bad = _write(tmp_path, "bad.toml", GOOD_PLAN.replace("= 600", "= 0").replace(
            '"Europe/Berlin"', '"Nowhere/City"'))
        proc = run_cli(["contracts", "validate", str(DE_FILE), str(bad)], cwd=str(ROOT))
        assert proc.returncode == 1
        assert proc.stdout.startswith(f"ok {DE_FILE}: 1 plan(s), 1 contract(s)")
        assert proc.stderr.splitlines() == [
            f"probe: error: {bad}:9: plan.download.minimum_mbps: must be a number > 0, got 0",
            f"probe: error: {bad}:13: contract.time_zone: unknown IANA time zone 'Nowhere/City'",
        ]

    def test_json_and_missing_path(self, tmp_path: Path) -> None:
        bad = _write(tmp_path, "bad.toml", "plan = 3\n")
        proc = run_cli(["contracts", "validate", "--json", str(bad)], cwd=str(ROOT))
        report = json.loads(proc.stdout)
        assert (proc.returncode, report["valid"]) == (1, False)
        assert report["files"][0]["errors"] == [
            {"key": "plan", "line": 1, "message": "must be a table or an array of tables"}]
        proc = run_cli(["contracts", "validate", str(tmp_path / "nope.toml")], cwd=str(ROOT))
        assert _one_error_line(proc, 2).endswith("nope.toml: no such file or directory")


class TestEvaluateBadInput:
    """Unreadable inputs: one clear line, exit 1 (usage: 2), never a traceback."""

    @pytest.mark.parametrize(("name", "text", "message"), [
        ("empty.jsonl", "", "{p}: no measurements (the file is empty)"),
        ("blank.csv", "\n\n", "{p}: no measurements (the file is empty)"),
        ("bad.jsonl", '{"id": "a", "started_at": "2026-03-02T08:00:00Z", '
         '"download_mbps": 1}\n{"id": \n', "{p}:2: not JSON: Expecting value"),
        ("noid.jsonl", '{"started_at": "2026-03-02T08:00:00Z"}\n',
         "{p}:1: measurement record lacks the field 'id'"),
        ("neg.jsonl", '{"id": "a", "started_at": "2026-03-02T08:00:00Z", '
         '"download_mbps": -3}\n', "{p}:1: download_mbps must be a finite number >= 0, got -3"),
        ("cols.csv", "started_at,download_mbps,upload_mbps\n2026-03-02T08:00:00Z,1,1\n",
         "{p}:1: CSV lacks the column(s) latency_ms; the header read was "
         "'started_at,download_mbps,upload_mbps' (delimiter ','); needs "
         "started_at,download_mbps,upload_mbps,latency_ms"),
        ("neg.csv", "started_at,download_mbps,upload_mbps,latency_ms\n"
         "2026-03-02T08:00:00Z,1,1,1\n2026-03-02T09:00:00Z,-1,1,1\n",
         "{p}:3: download_mbps must be a finite number >= 0, got '-1'"),
        ("text.csv", "started_at,download_mbps,upload_mbps,latency_ms\n"
         "2026-03-02T08:00:00Z,fast,1,1\n", "{p}:2: download_mbps is not a number: 'fast'"),
        ("naive.csv", "started_at,download_mbps,upload_mbps,latency_ms\n"
         "2026-03-02 08:00,1,1,1\n", "{p}:2: timestamp has no UTC offset: '2026-03-02 08:00'"),
    ])
    def test_measurement_files(self, tmp_path: Path, name: str, text: str, message: str) -> None:
        path = _write(tmp_path, name, text)
        proc = run_cli(["evaluate", "--contract", str(DE_FILE), "--measurements", str(path)],
                       cwd=str(ROOT))
        assert _one_error_line(proc, 1).startswith(message.format(p=path))

    def test_missing_file_bad_contract_and_unknown_profile(self, tmp_path: Path) -> None:
        m = _campaign_jsonl(tmp_path / "m.jsonl")
        proc = run_cli(["evaluate", "--contract", str(DE_FILE), "--measurements",
                        str(tmp_path / "none.jsonl")], cwd=str(ROOT))
        # A missing input file is a bad argument (exit 2), as in `probe contracts validate`.
        assert _one_error_line(proc, 2).endswith("none.jsonl: no such measurements file")
        proc = run_cli(["evaluate", "--contract", str(tmp_path / "none.toml"),
                        "--measurements", str(m)], cwd=str(ROOT))
        assert _one_error_line(proc, 2).endswith("none.toml: no such contracts file")
        bad = _write(tmp_path, "c.toml", GOOD_PLAN.replace("= 600", "= 900"))
        proc = run_cli(["evaluate", "--contract", str(bad), "--measurements", str(m)],
                       cwd=str(ROOT))
        assert _one_error_line(proc, 1) == (
            f"{bad}:9: plan.download.minimum_mbps: minimum (900) must not exceed "
            "normally_available (850)")
        plan_only = _write(tmp_path, "p.toml", GOOD_PLAN.split("[contract]", maxsplit=1)[0])
        proc = run_cli(["evaluate", "--contract", str(plan_only), "--measurements", str(m)],
                       cwd=str(ROOT))
        assert "needs a [contract] table" in _one_error_line(proc, 1)
        proc = run_cli(["evaluate", "--contract", str(DE_FILE), "--measurements", str(m),
                        "--profile", "fr-arcep"], cwd=str(ROOT))
        assert proc.returncode == 2
        assert "invalid choice: 'fr-arcep'" in proc.stderr
        assert "Traceback" not in proc.stderr


class TestEvaluateVerdicts:
    """Exit 0/4/5 and the JSON object the issue specifies."""

    def test_pass_json(self, tmp_path: Path) -> None:
        m = _campaign_jsonl(tmp_path / "m.jsonl")
        proc = run_cli(["evaluate", "--contract", str(DE_FILE), "--measurements", str(m),
                        "--json"], cwd=str(ROOT))
        assert proc.returncode == 0, proc.stderr
        (line,) = proc.stdout.splitlines()
        out = json.loads(line)
        assert {"verdict", "profile", "criteria", "confidence", "valid_measurements",
                "campaign"} <= set(out)
        assert (out["verdict"], out["profile"], out["valid_measurements"]) == (
            "pass", "de-bnetza", 30)
        assert set(out["criteria"][1]) == {"id", "direction", "passed", "detail"}
        assert out["campaign"]["days"] == ["2026-03-02", "2026-03-04", "2026-03-06"]

    def test_shortfall_human(self, tmp_path: Path) -> None:
        m = _campaign_jsonl(tmp_path / "m.jsonl", below_normal=6)
        proc = run_cli(["evaluate", "--contract", str(DE_FILE), "--measurements", str(m)],
                       cwd=str(ROOT))
        assert proc.returncode == 4, proc.stderr
        assert ("FAIL b-normal           download: normally available 850 Mbit/s reached in 24 "
                "of 30 measurements (80 %), needs 90 %") in proc.stdout
        assert "95 % Clopper-Pearson [7.7%, 38.6%]" in proc.stdout

    def test_inconclusive_and_csv(self, tmp_path: Path) -> None:
        m = _campaign_jsonl(tmp_path / "m.jsonl", days=(2, 4))
        records = [json.loads(x) for x in m.read_text().splitlines()]
        csv = tmp_path / "m.csv"
        csv.write_text("started_at,download_mbps,upload_mbps,latency_ms\n" + "".join(
            f"{r['started_at']},{r['download_mbps']},{r['upload_mbps']},{r['latency_ms']}\n"
            for r in records))
        proc = run_cli(["evaluate", "--contract", str(DE_FILE), "--measurements", str(csv),
                        "--json"], cwd=str(ROOT))
        assert proc.returncode == 5, proc.stderr
        out = json.loads(proc.stdout)
        assert (out["verdict"], out["campaign"]["days_complete"]) == ("inconclusive", 2)

    def test_fleet_profile_override_and_subscriber(self, tmp_path: Path) -> None:
        contracts = ('[[contract]]\nsubscriber_id = "A"\ntime_zone = "Europe/Berlin"\n\n'
                     '[[contract]]\nsubscriber_id = "B"\ntime_zone = "Asia/Tokyo"\n')
        plan = GOOD_PLAN.split("[contract]", maxsplit=1)[0]
        fleet = _write(tmp_path, "fleet.toml", plan + contracts)
        a = _campaign_jsonl(tmp_path / "a.jsonl", subscriber="A")
        b = _campaign_jsonl(tmp_path / "b.jsonl", below_normal=10, subscriber="B")
        both = _write(tmp_path, "both.jsonl", a.read_text() + b.read_text())
        proc = run_cli(["evaluate", "--contract", str(fleet), "--measurements", str(both),
                        "--json"], cwd=str(ROOT))
        assert proc.returncode == 4, proc.stderr
        verdicts = [(o["subscriber_id"], o["verdict"]) for o in map(
            json.loads, proc.stdout.splitlines())]
        # B's days are Tokyo days (08:00-12:30 Berlin is 16:00-20:30 there): still complete.
        assert verdicts == [("A", "pass"), ("B", "shortfall")]
        proc = run_cli(["evaluate", "--contract", str(fleet), "--measurements", str(both),
                        "--subscriber", "A", "--profile", "eu-berec", "--json"], cwd=str(ROOT))
        out = json.loads(proc.stdout)
        assert (proc.returncode, out["profile"], out["subscriber_id"]) == (0, "eu-berec", "A")


class TestStrayMeasurements:
    """Rows of subscribers the contracts file does not know are reported, not silently lost."""

    def test_warning(self, tmp_path: Path) -> None:
        m = _campaign_jsonl(tmp_path / "m.jsonl", subscriber="SOMEONE-ELSE")
        proc = run_cli(["evaluate", "--contract", str(DE_FILE), "--measurements", str(m),
                        "--json"], cwd=str(ROOT))
        assert proc.returncode == 5
        assert proc.stderr.strip() == (
            f"probe: warning: 30 measurement(s) of subscribers not in {DE_FILE} were ignored "
            "(e.g. 'SOMEONE-ELSE')")
        out = json.loads(proc.stdout)
        assert (out["verdict"], out["valid_measurements"]) == ("inconclusive", 0)
