"""``probe report``: the fleet roll-up equals ``probe evaluate`` subscriber by subscriber, for
every source kind (Parquet, the SQLite store, real InfluxDB 1.x), and bad input is one line."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from probe.cli.report_sources import load_contract_dir
from probe.compliance.confidence import clopper_pearson
from probe.compliance.periods import evaluate_periods
from probe.dataset.parquet import read_measurements
from tests.support import run_cli, run_clis

DB = "fleet"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fleet")
    result = run_cli(["simulate", "--subscribers", "60", "--days", "14", "--seed", "11",
                      "--out", str(out), "--format", "parquet,jsonl,lineprotocol"])
    assert result.returncode == 0, result.stderr
    return out


def report(*args: str) -> dict:
    [data] = reports(args)
    return data


def reports(*arg_lists: tuple[str, ...]) -> list[dict]:
    """``probe report --format json`` for each argument list (two at a time), in order."""
    results = run_clis([["report", "--format", "json", *args] for args in arg_lists])
    for result in results:
        assert result.returncode == 0, result.stderr
    return [json.loads(result.stdout) for result in results]


def evaluate_all(fleet: Path, measurements: Path | None = None,
                 files: list[Path] | None = None, *extra: str) -> dict[str, dict]:
    """``probe evaluate --json`` over each contracts file against the JSON lines."""
    out = {}
    for result in run_clis([
            ["evaluate", "--contract", str(contracts), "--measurements",
             str(measurements or fleet / "measurements.jsonl"), "--json", *extra]
            for contracts in files or sorted((fleet / "contracts").glob("*.toml"))]):
        assert result.returncode in (0, 4, 5), result.stderr
        for line in result.stdout.splitlines():
            item = json.loads(line)
            out[item["subscriber_id"]] = item
    return out


def _same_as_evaluate(rows: list[dict], evaluated: dict[str, dict]) -> None:
    assert {r["subscriber_id"] for r in rows} == set(evaluated)
    for row in rows:
        e = evaluated[row["subscriber_id"]]
        assert row["verdict"] == e["verdict"], row["subscriber_id"]
        assert row["plan"] == e["plan"]
        assert row["valid_measurements"] == e["valid_measurements"]
        assert row["flagged_measurements"] == e["flagged_measurements"]
        counts = {c["direction"]: (c["tests"], c["failing"]) for c in e["confidence"]}
        for d in ("download", "upload"):
            assert (row[f"{d}_tests"], row[f"{d}_failing"]) == counts.get(d, (0, 0))
        if e["verdict"] != "pass":
            assert row["reasons"] == " | ".join(e["reasons"])


class TestSameRulesAsEvaluate:
    def test_every_subscriber_as_evaluate_says(self, fleet: Path) -> None:
        data = report("--source", f"parquet:{fleet / 'measurements'}", "--contracts",
                      str(fleet / "contracts"), "--per-subscriber")
        evaluated = evaluate_all(fleet)
        _same_as_evaluate(data["subscribers"], evaluated)
        verdicts = [e["verdict"] for e in evaluated.values()]
        # The simulated fleet has every outcome, so the comparison is not vacuous.
        assert {"pass", "shortfall", "inconclusive"} <= set(verdicts)
        short = {s["subscriber_id"] for s in data["shortfalls"]}
        assert short == {s for s, e in evaluated.items() if e["verdict"] == "shortfall"}

    def test_groups_add_up_with_exact_intervals(self, fleet: Path) -> None:
        data = report("--source", f"parquet:{fleet / 'measurements'}", "--contracts",
                      str(fleet / "contracts"), "--by", "region,technology",
                      "--per-subscriber")
        overall, groups, rows = data["overall"], data["groups"], data["subscribers"]
        assert sum(g["subscribers"] for g in groups) == overall["subscribers"] == 60
        for g in groups:
            mine = [r for r in rows if (r["region"], r["technology"]) ==
                    (g["region"], g["technology"])]
            passed = sum(r["verdict"] == "pass" for r in mine)
            short = sum(r["verdict"] == "shortfall" for r in mine)
            share = g["compliant_subscribers"]
            assert (share["compliant"], share["total"]) == (passed, passed + short)
            assert (share["lower"], share["upper"]) == pytest.approx(
                clopper_pearson(passed, passed + short))
            tests = sum(r["download_tests"] for r in mine)
            failing = sum(r["download_failing"] for r in mine)
            if tests:
                down = g["compliant_tests"]["download"]
                assert (down["compliant"], down["total"]) == (tests - failing, tests)

    def test_window_and_profile_as_evaluate(self, fleet: Path, tmp_path: Path) -> None:
        """--profile over one plan's file and a --from/--to window agree with evaluate over
        the same window's records."""
        contracts = fleet / "contracts" / "de-vdsl-100.toml"
        data = report("--source", f"parquet:{fleet / 'measurements'}", "--contracts",
                      str(contracts), "--profile", "eu-berec",
                      "--from", "2026-03-05T00:00Z", "--to", "2026-03-12T00:00Z",
                      "--per-subscriber")
        assert data["meta"]["from"] == "2026-03-05T00:00:00+00:00"
        assert all(r["profile"] == "eu-berec" for r in data["subscribers"])
        assert data["meta"]["notes"]  # other plans' measurements were ignored, and said so
        window = tmp_path / "window.jsonl"
        with window.open("w") as out:
            for line in (fleet / "measurements.jsonl").read_text().splitlines():
                started = json.loads(line)["started_at"]
                if "2026-03-05" <= started[:10] < "2026-03-12":
                    out.write(line + "\n")
        _same_as_evaluate(data["subscribers"],
                          evaluate_all(fleet, window, [contracts], "--profile", "eu-berec"))


class TestByPeriod:
    def test_json_per_period_with_the_same_rules_and_the_fleet_unchanged(
            self, fleet: Path) -> None:
        args = ("--source", f"parquet:{fleet / 'measurements'}", "--contracts",
                str(fleet / "contracts"), "--per-subscriber")
        plain, by_period = reports(args, (*args, "--by", "plan,period"))
        # The whole fleet, the shortfalls and every subscriber's row stay the whole window's.
        for key in ("overall", "shortfalls", "subscribers"):
            assert by_period[key] == plain[key], key
        assert by_period["by"] == ["plan", "period"]
        contracts = load_contract_dir(fleet / "contracts")
        evaluated = evaluate_periods(read_measurements(fleet / "measurements"), contracts)
        want = {}
        for period, evaluations in evaluated.items():
            for e in evaluations:
                counts = want.setdefault((e.plan_id, period), Counter())
                counts[e.verdict] += 1
        got = {(g["plan"], g["period"]): g for g in by_period["groups"]}
        assert set(got) == set(want)
        for k, g in got.items():
            assert (g["pass"], g["shortfall"], g["inconclusive"]) == (
                want[k]["pass"], want[k]["shortfall"], want[k]["inconclusive"]), k
            share = g["compliant_subscribers"]
            assert (share["lower"], share["upper"]) == pytest.approx(
                clopper_pearson(g["pass"], g["pass"] + g["shortfall"]))
        # The simulator's evening dips: a line can pass off-peak and fall short at peak.
        assert any(got[(plan, "peak")]["shortfall"] > got[(plan, "off_peak")]["shortfall"]
                   for plan, _ in got)

    def test_period_alone_and_in_csv_and_html(self, fleet: Path, tmp_path: Path) -> None:
        base = ["report", "--source", f"parquet:{fleet / 'measurements'}", "--contracts",
                str(fleet / "contracts"), "--by", "period"]
        page = tmp_path / "period.html"
        csv_run, html_run = run_clis([[*base, "--format", "csv"],
                                      [*base, "--format", "html", "-o", str(page)]])
        assert csv_run.returncode == 0, csv_run.stderr
        assert "peak and off-peak" in csv_run.stderr  # said, since it costs two evaluations
        rows = csv_run.stdout.splitlines()
        assert rows[0].startswith("period,subscribers,pass,shortfall")
        assert [r.split(",")[0] for r in rows[1:]] == ["", "off_peak", "peak"]
        assert html_run.returncode == 0, html_run.stderr
        text = page.read_text()
        assert "<h2>By period</h2>" in text
        assert "off_peak" in text
        assert "its tests in that period" in text


class TestSources:
    def test_sqlite_store_equals_parquet(self, tmp_path: Path) -> None:
        out = tmp_path / "small"
        result = run_cli(["simulate", "--subscribers", "6", "--days", "7", "--seed", "2",
                          "--out", str(out), "--db", str(tmp_path / "probe.db")])
        assert result.returncode == 0, result.stderr
        args = ("--contracts", str(out / "contracts"), "--by", "plan", "--per-subscriber")
        from_store, from_parquet = reports(
            ("--source", f"sqlite:{tmp_path / 'probe.db'}", *args),
            ("--source", f"parquet:{out / 'measurements'}", *args))
        assert from_store["meta"]["measurements"] > 400
        for data in (from_store, from_parquet):
            data["meta"].pop("source")
        assert from_store == from_parquet

    @pytest.mark.services
    def test_influxdb1_equals_parquet(self, fleet: Path, influxdb1) -> None:
        influxdb1.query(f"CREATE DATABASE {DB}", method="POST")
        lines = (fleet / "points.lp").read_text().splitlines()
        for i in range(0, len(lines), 5000):
            status, body = influxdb1.write(DB, lines[i:i + 5000])
            assert status == 204, body
        stored = influxdb1.query("SELECT count(download_mbps) FROM broadband", db=DB)
        assert stored["results"][0]["series"][0]["values"][0][1] == len(lines)
        args = ("--contracts", str(fleet / "contracts"), "--by", "plan,region",
                "--per-subscriber")
        from_influx, from_parquet = reports(
            ("--source", f"influx:{influxdb1.url}?db={DB}", *args),
            ("--source", f"parquet:{fleet / 'measurements'}", *args))
        assert from_influx["meta"]["measurements"] == len(lines)
        for data in (from_influx, from_parquet):
            data["meta"].pop("source")
        assert from_influx == from_parquet


@pytest.mark.services
class TestWriteBack:
    def test_window_verdicts_reach_victoria_metrics_once(self, fleet: Path,
                                                         victoria_metrics) -> None:
        args = ["--source", f"parquet:{fleet / 'measurements'}", "--contracts",
                str(fleet / "contracts"), "--per-subscriber", "--write-back",
                "--url", victoria_metrics.url, "--kind", "victoriametrics"]
        first = report(*args)
        again = report(*args, "--by", "period")  # the same window again: replaces, not adds
        assert first["meta"]["written_back"] == again["meta"]["written_back"] == 60
        assert first["meta"]["written_back_per_period"] == 120  # peak and off-peak each
        assert again["overall"] == first["overall"]  # --by period leaves the whole fleet be
        # The whole-window points have no period label: as before there were per-period ones.
        series = victoria_metrics.export(
            '{__name__="broadband_window_valid_measurements",period=""}')
        by_sub = {s["metric"]["subscriber_id"]: s for s in series}
        assert len(by_sub) == len(series)
        rows = {r["subscriber_id"]: r for r in first["subscribers"]}
        assert set(by_sub) == set(rows)
        for sid, s in by_sub.items():
            assert s["values"] == [rows[sid]["valid_measurements"]]  # once, not twice
            assert s["metric"]["plan"] == rows[sid]["plan"]
            assert s["metric"]["region"] == rows[sid]["region"]
        compliant = victoria_metrics.export('{__name__="broadband_window_compliant",period=""}')
        assert {s["metric"]["subscriber_id"]: s["values"] for s in compliant} == {
            sid: [1.0 if r["verdict"] == "pass" else 0.0] for sid, r in rows.items()
            if r["verdict"] != "inconclusive"}
        undecided = victoria_metrics.export(
            '{__name__="broadband_window_inconclusive",period=""}')
        assert {s["metric"]["subscriber_id"] for s in undecided if s["values"] == [1.0]} == {
            sid for sid, r in rows.items() if r["verdict"] == "inconclusive"}
        # Per period: one point per subscriber and period, decided ones as --by period counts.
        per_period = victoria_metrics.export(
            '{__name__="broadband_window_inconclusive",period!=""}')
        assert sorted((x["metric"]["subscriber_id"], x["metric"]["period"], len(x["values"]))
                      for x in per_period) == sorted(
            (sid, p, 1) for sid in rows for p in ("peak", "off_peak"))
        decided = victoria_metrics.export('{__name__="broadband_window_compliant",period!=""}')
        for group in again["groups"]:
            values = [v for x in decided if x["metric"]["period"] == group["period"]
                      for v in x["values"]]
            share = group["compliant_subscribers"]
            assert (sum(values), len(values)) == (share["compliant"], share["total"])

    def test_unreachable_sink_is_one_line(self, fleet: Path) -> None:
        from tests.support import free_port

        result = run_cli(["report", "--source", f"parquet:{fleet / 'measurements'}",
                          "--contracts", str(fleet / "contracts"), "--write-back", "--url",
                          f"http://127.0.0.1:{free_port()}", "--kind", "victoriametrics"])
        assert result.returncode == 1
        # 60 subscribers: a whole-window point each, and one per period
        assert "write-back stopped after 0 of 180" in result.stderr
        assert "Traceback" not in result.stderr


class TestOutputs:
    def test_table_csv_html(self, fleet: Path, tmp_path: Path) -> None:
        base = ["report", "--source", f"parquet:{fleet / 'measurements'}", "--contracts",
                str(fleet / "contracts")]
        table = run_cli([*base, "--by", "technology"])
        assert table.returncode == 0, table.stderr
        assert "all subscribers" in table.stdout
        assert "Clopper-Pearson" in table.stdout
        assert "measurements read" in table.stderr  # progress on stderr, not in the output
        assert "peak and off-peak" not in table.stderr  # no per-period work unless asked for
        csv_out = run_cli([*base, "--format", "csv"]).stdout.splitlines()
        assert csv_out[0].startswith("plan,subscribers,pass,shortfall")
        plans = len(list((fleet / "contracts").glob("*.toml")))
        assert len(csv_out) == 1 + 1 + plans  # header, the fleet, one row a plan
        page = tmp_path / "report.html"
        result = run_cli([*base, "--by", "plan,region", "--format", "html", "-o", str(page)])
        assert result.returncode == 0, result.stderr
        text = page.read_text()
        assert text.startswith("<!doctype html>")
        assert "<script" not in text
        assert "http://" not in text  # self-contained: nothing fetched
        assert "https://" not in text

    @pytest.mark.parametrize(("args", "code", "message"), [
        (["--source", "mysql:x"], 2, "give sqlite:PATH, parquet:DIR"),
        (["--source", "parquet:/nonexistent"], 1, "no such directory of Parquet files"),
        (["--source", "sqlite:/nonexistent.db"], 2, "no result store at"),
        (["--source", "influx:http://127.0.0.1:9"], 2, "?db=NAME"),
        (["--by", "colour"], 2, "choose from plan, region"),
        (["--from", "2026-03-09T00:00Z", "--to", "2026-03-01T00:00Z"], 2, "must be before"),
        (["--from", "yesterday"], 2, "--from 'yesterday'"),
        (["--engine", "dask", "--source", "sqlite:x.db"], 2, "--engine dask reads Parquet"),
    ])
    def test_bad_input_is_one_line(self, fleet: Path, args, code, message) -> None:
        base = {"--source": f"parquet:{fleet / 'measurements'}",
                "--contracts": str(fleet / "contracts")}
        for flag, value in zip(args[::2], args[1::2], strict=True):
            base[flag] = value
        result = run_cli(["report", *[x for kv in base.items() for x in kv]])
        assert result.returncode == code, result.stderr
        assert message in result.stderr
        assert "Traceback" not in result.stderr

    def test_unreachable_influx_is_one_line(self, fleet: Path) -> None:
        from tests.support import free_port

        result = run_cli(["report", "--source",
                          f"influx:http://127.0.0.1:{free_port()}?db=x",
                          "--contracts", str(fleet / "contracts")])
        assert result.returncode == 1
        assert "cannot reach InfluxDB at" in result.stderr
        assert "Traceback" not in result.stderr

    def test_contracts_missing(self, fleet: Path, tmp_path: Path) -> None:
        result = run_cli(["report", "--source", f"parquet:{fleet / 'measurements'}",
                          "--contracts", str(tmp_path)])
        assert result.returncode == 1
        assert "no [contract] tables found" in result.stderr
