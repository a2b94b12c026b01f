"""The fleet simulator: repeatable, realistic in the ways the report must find, and readable
by the same loaders users' files go through."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from probe.cli.contract_files import load_contracts
from probe.cli.measurement_files import load_measurements
from probe.dataset.parquet import read_measurements
from probe.simulate.fleet import FleetSpec, simulate_fleet
from tests.support import run_cli


@pytest.fixture(scope="module")
def fleet():
    return simulate_fleet(FleetSpec(600, 14, seed=5))


def _local_hour(fleet) -> np.ndarray:
    hours = np.empty(len(fleet.frame))
    zones = pd.Series([fleet.contracts[s].time_zone
                       for s in fleet.frame["subscriber_id"].astype(str)])
    for zone in zones.unique():
        rows = (zones == zone).to_numpy()
        hours[rows] = fleet.frame["started_at"][rows].dt.tz_convert(zone).dt.hour
    return hours


class TestRepeatable:
    def test_same_seed_same_fleet(self, fleet) -> None:
        again = simulate_fleet(FleetSpec(600, 14, seed=5))
        assert fleet.frame.equals(again.frame)  # (assert_frame_equal takes 25 s on categoricals)
        assert (fleet.ids == again.ids).all()
        assert fleet.contracts == again.contracts

    def test_other_seed_other_fleet(self, fleet) -> None:
        other = simulate_fleet(FleetSpec(600, 14, seed=6))
        assert not fleet.frame["download_mbps"].equals(other.frame["download_mbps"])

    def test_ids_unique_and_rows_in_subscriber_time_order(self, fleet) -> None:
        assert len(set(fleet.ids.tolist())) == len(fleet.ids)
        codes = fleet.frame["subscriber_id"].cat.codes.to_numpy()
        t = pd.DatetimeIndex(fleet.frame["started_at"]).asi8
        assert (np.diff(codes) >= 0).all()
        same = np.diff(codes) == 0
        assert (np.diff(t)[same] > 0).all()


class TestRealistic:
    def test_evening_dip(self, fleet) -> None:
        f = fleet.frame.assign(hour=_local_hour(fleet))
        f = f[f["flags"].astype(str) == ""]
        ratio = f["download_mbps"] / f["plan"].astype(str).map(
            {p.id: p.download.maximum_mbps or p.download.advertised_mbps or 1
             for p in fleet.plans}).astype(float)
        be = f["region"].astype(str) == "DE-BE"
        evening = ratio[be & f["hour"].between(20, 22)].median()
        morning = ratio[be & f["hour"].between(7, 11)].median()
        assert evening < morning * 0.9

    def test_wifi_probes_are_flagged_and_capped(self, fleet) -> None:
        f = fleet.frame
        wifi = f["flags"].astype(str) == "wifi"
        probes_on_wifi = f.loc[wifi, "probe_id"].nunique() / f["probe_id"].nunique()
        assert 0.02 < probes_on_wifi < 0.09
        assert f.loc[wifi, "download_mbps"].max() <= 400
        assert ((f["flags"].astype(str) == "cross_traffic").mean()) == pytest.approx(0.01,
                                                                                    abs=0.005)

    def test_outages_and_missed_tests_leave_gaps(self, fleet) -> None:
        per_sub = fleet.frame.groupby("subscriber_id", observed=True).size()
        assert per_sub.max() <= 14 * 10
        full_days = (per_sub <= 14 * 10 - 10).mean()
        assert 0.08 < full_days < 0.3  # outages of >= 1 day on ~15 % of probes

    def test_plans_differ_and_late_starts(self, fleet) -> None:
        plans = {c.plan.id for c in fleet.contracts.values()}
        assert len(plans) == 8
        late = [c for c in fleet.contracts.values() if c.start == date(2026, 3, 4)]
        assert 0 < len(late) < 0.1 * len(fleet.contracts)


class TestCommand:
    def test_writes_contracts_parquet_jsonl_lines(self, tmp_path: Path) -> None:
        out = tmp_path / "fleet"
        result = run_cli(["simulate", "--subscribers", "40", "--days", "7", "--seed", "3",
                          "--out", str(out), "--format", "parquet,jsonl,lineprotocol",
                          "--json"])
        assert result.returncode == 0, result.stderr
        summary = json.loads(result.stdout)
        assert summary["subscribers"] == 40
        count = summary["measurements"]
        assert json.loads((out / "fleet.json").read_text()) == summary
        assert "rows written" in result.stderr  # progress
        contracts = {}
        for path in sorted((out / "contracts").glob("*.toml")):
            contracts.update(load_contracts(path).contracts)
        assert len(contracts) == 40
        from_parquet = read_measurements(out / "measurements")
        from_jsonl = load_measurements(out / "measurements.jsonl")
        assert len(from_parquet) == len(from_jsonl) == count
        assert set(from_parquet["subscriber_id"].astype(str)) <= set(contracts)
        pd.testing.assert_series_equal(from_parquet["download_mbps"],
                                       from_jsonl["download_mbps"], check_names=False)
        assert (pd.DatetimeIndex(from_parquet["started_at"]).asi8
                == pd.DatetimeIndex(from_jsonl["started_at"]).as_unit("us").asi8).all()
        assert from_parquet["flagged"].tolist() == from_jsonl["flagged"].tolist()
        lines = (out / "points.lp").read_text().splitlines()
        assert len(lines) == count
        assert lines[0].startswith("broadband,")

    def test_same_seed_same_bytes(self, tmp_path: Path) -> None:
        for name in ("a", "b"):
            assert run_cli(["simulate", "--subscribers", "5", "--days", "2", "--out",
                            str(tmp_path / name), "--format", "jsonl"]).returncode == 0
        assert (tmp_path / "a/measurements.jsonl").read_bytes() == \
            (tmp_path / "b/measurements.jsonl").read_bytes()

    @pytest.mark.parametrize(("args", "message"), [
        (["--format", "xml"], "--format takes parquet, jsonl, lineprotocol"),
        (["--per-day", "25"], "--per-day must be 1..24"),
        (["--subscribers", "0"], "must be >= 1"),
        (["--start", "March"], "not a date"),
    ])
    def test_bad_input_is_one_line(self, tmp_path: Path, args, message) -> None:
        result = run_cli(["simulate", "--out", str(tmp_path), *args])
        assert result.returncode == 2
        assert message in result.stderr
        assert "Traceback" not in result.stderr
