"""``probe report --engine dask``: the same rule functions on a dask.distributed LocalCluster
with 2 workers give exactly the single-process result, the verdicts per period and the
write-back lines included."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import pandas as pd
import pytest

from probe.cli.report_sources import load_contract_dir
from probe.compliance.fleet import evaluate_fleet
from probe.compliance.periods import evaluate_periods
from probe.dataset.parquet import describe, read_measurements
from probe.report.summary import ordered, summarise, summarise_periods
from probe.scaleout.dask_report import evaluate_on_dask
from probe.sinks.fleetpoints import encode_window_verdict
from tests.support import run_cli, run_clis

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dask-fleet")
    # Small part files so that the cluster has several partitions to spread over 2 workers.
    result = run_cli(["simulate", "--subscribers", "80", "--days", "10", "--seed", "21",
                      "--out", str(out), "--rows-per-file", "1500"])
    assert result.returncode == 0, result.stderr
    return out


def test_cli_dask_equals_single_process(fleet: Path) -> None:
    assert len(describe(fleet / "measurements").files) >= 4
    base = ["report", "--source", f"parquet:{fleet / 'measurements'}", "--contracts",
            str(fleet / "contracts"), "--by", "plan,region,period", "--json",
            "--per-subscriber"]
    local, dask = run_clis([base, [*base, "--engine", "dask", "--workers", "2"]])
    assert local.returncode == 0, local.stderr
    assert dask.returncode == 0, dask.stderr
    assert "partition 4 of" in dask.stderr  # progress per partition
    one, two = json.loads(local.stdout), json.loads(dask.stdout)
    assert (one["meta"].pop("engine"), two["meta"].pop("engine")) == ("local", "dask")
    assert one == two
    assert len(two["subscribers"]) == 80
    assert two["overall"]["shortfall"] > 0
    assert {g["period"] for g in two["groups"]} == {"peak", "off_peak"}


def test_foreign_layout_is_shuffled_by_subscriber(fleet: Path, tmp_path: Path) -> None:
    """Files without the whole-subscriber promise (rows of one subscriber in several files,
    no manifest, time-ordered) are shuffled first; the result is still exactly the same."""
    contracts = load_contract_dir(fleet / "contracts")
    raw = pd.concat([pd.read_parquet(f) for f in describe(fleet / "measurements").files])
    raw = raw.sort_values("started_at", kind="stable")
    for i, chunk in enumerate(range(0, len(raw), 2000)):
        raw.iloc[chunk:chunk + 2000].to_parquet(tmp_path / f"chunk{i}.parquet")
    info = describe(tmp_path)
    assert not info.whole_subscribers
    end = datetime(2026, 3, 12, tzinfo=UTC)
    encode = partial(encode_window_verdict, at=end)
    result = evaluate_on_dask(info.files, contracts, whole_subscribers=False, workers=2,
                              start=pd.Timestamp("2026-03-03T00:00Z").to_pydatetime(),
                              periods=True, encode=encode)
    frame = read_measurements(tmp_path, start=pd.Timestamp("2026-03-03T00:00Z").to_pydatetime())
    evaluations = evaluate_fleet(frame, contracts)
    single = ordered(summarise(evaluations, contracts))
    pd.testing.assert_frame_equal(result.summary, single)
    assert result.measurements == len(frame)
    by_period = evaluate_periods(frame, contracts)
    assert result.periods is not None
    pd.testing.assert_frame_equal(result.periods,
                                  ordered(summarise_periods(by_period, contracts)))
    lines = [encode(e, contracts[e.subscriber_id]) for e in evaluations] + [
        encode(e, contracts[e.subscriber_id], period=p) for p, es in by_period.items()
        for e in es]
    assert sorted(result.lines) == sorted(lines)
    assert len(lines) == 3 * len(contracts)
