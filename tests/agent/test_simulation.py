"""Three simulated weeks of the agent's schedule end in campaigns `probe evaluate` judges complete.

The simulation (tests/agent/simulate.py) drives the real agenda, campaign and store with a fake
clock, random gate deferrals, failed tests, flagged tests and a restart in the middle; the
records then go through `probe export` and `probe evaluate` exactly as a user would run them.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from probe.agent.config import ScheduleConfig
from tests.agent.simulate import config_for, load_contract, simulate
from tests.support import ROOT, run_cli

pytestmark = pytest.mark.slow

START = datetime(2026, 3, 2, 6, 17, 3, tzinfo=UTC)


def _evaluate(db: Path, contract: str, tmp_path: Path) -> dict[str, object]:
    out = tmp_path / "export.jsonl"
    done = run_cli(["export", "--db", str(db), "-o", str(out)])
    assert done.returncode == 0, done.stderr
    done = run_cli(["evaluate", "--contract", str(ROOT / "contracts" / contract),
                    "--measurements", str(out), "--json"])
    assert done.returncode in (0, 4, 5), done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


@pytest.mark.parametrize("seed", [1, 2])
def test_de_bnetza_campaign_completes_despite_deferrals_and_a_restart(
    tmp_path: Path, seed: int
) -> None:
    contract = load_contract("de-cable-1000.toml")
    db = tmp_path / "probe.db"
    sim = simulate(contract, config_for(), db, start=START, days=21, seed=seed,
                   rates=(960.0, 49.0), restart_after_days=4.3)
    assert sim.deferred > 0
    assert sim.failed > 0
    assert sim.restarts == 1
    verdict = _evaluate(db, "de-cable-1000.toml", tmp_path)
    campaign = verdict["campaign"]
    assert isinstance(campaign, dict)
    assert campaign["complete"] is True, campaign
    assert verdict["verdict"] == "pass", verdict
    assert sim.state.campaign_completed_at is not None
    # The free days between the campaign's days stay free: no test at all on them.
    zone = contract.zone
    days = [datetime.fromisoformat(d).date() for d in campaign["days"]]
    per_day = Counter(m.started_at.astimezone(zone).date() for m in sim.stored)
    between = [days[0] + timedelta(days=k) for k in range((days[-1] - days[0]).days)]
    assert all(per_day[d] == 0 for d in between if d not in days), per_day
    # Every campaign day has its ten with the spacing and the long gap (the verdict checked it);
    # and the campaign left the regular schedule to run afterwards.
    assert any(m.started_at > sim.state.campaign_completed_at for m in sim.stored)


@pytest.mark.parametrize(("schedule", "seed"), [
    (ScheduleConfig(), 4),
    # Sparse regular tests: the campaign's own hourly tests in the testing hours do the work.
    (ScheduleConfig(interval_s=8 * 3600, peak_interval_s=8 * 3600), 5),
])
def test_us_fcc_testing_hours_get_enough_tests(
    tmp_path: Path, schedule: ScheduleConfig, seed: int
) -> None:
    contract = load_contract("us-tier-300.toml")
    db = tmp_path / "probe.db"
    sim = simulate(contract, config_for(schedule), db, start=START, days=21, seed=seed,
                   rates=(310.0, 21.0), restart_after_days=3.5)
    assert sim.restarts == 1
    verdict = _evaluate(db, "us-tier-300.toml", tmp_path)
    assert verdict["verdict"] == "pass", verdict
    decided = [c for c in verdict["criteria"] if c["id"] == "80/80"]  # type: ignore[union-attr]
    assert decided
    assert all(c["passed"] is True for c in decided), decided
    assert sim.state.campaign_completed_at is not None
    local_hours = [m.started_at.astimezone(contract.zone).hour for m in sim.stored]
    assert sum(18 <= h < 24 for h in local_hours) >= 42
