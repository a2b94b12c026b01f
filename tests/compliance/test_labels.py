"""Fleet labels: the groups and contracted rates a point carries, per profile and local time."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from probe.cli.contract_files import load_contracts
from probe.compliance.labels import DEFAULT_PEAK_HOURS, FleetLabels, fleet_labels, peak_hours
from tests.compliance.builders import DE_DOWN, DE_UP, at, contract

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"


def test_cn_miit_bar_is_k_times_the_theoretical_rate() -> None:
    con = next(iter(load_contracts(CONTRACTS / "cn-ftth-300.toml").contracts.values()))
    labels = fleet_labels(con, at("2026-03-02 20:30", "Asia/Shanghai"))
    assert labels == FleetLabels(
        plan="cn-ftth-300", region="CN-GD", technology="FTTH", profile="cn-miit", period="peak",
        contract_download_mbps=300, contract_upload_mbps=30, threshold_download_mbps=270.0,
        threshold_upload_mbps=27.0)


def test_de_bnetza_bar_is_normally_available_and_minimum_is_kept() -> None:
    con = contract("de-bnetza", DE_DOWN, DE_UP)
    labels = fleet_labels(con, at("2026-03-02 08:00"))
    assert (labels.contract_download_mbps, labels.threshold_download_mbps,
            labels.minimum_download_mbps) == (1000, 850, 600)
    assert (labels.contract_upload_mbps, labels.threshold_upload_mbps,
            labels.minimum_upload_mbps) == (50, 35, 15)
    assert labels.period == "off_peak"


def test_us_fcc_bar_is_80_percent_of_advertised_and_headline_falls_back() -> None:
    con = contract("us-fcc", {"advertised_mbps": 300}, {"advertised_mbps": 20},
                   tz="America/New_York")
    labels = fleet_labels(con, at("2026-07-01 22:59", "America/New_York"))
    assert (labels.contract_download_mbps, labels.threshold_download_mbps) == (300, 240.0)
    assert labels.threshold_upload_mbps == 16.0
    assert labels.period == "peak"


@pytest.mark.parametrize(("local", "period"), [
    ("2026-03-29 18:59:59", "off_peak"), ("2026-03-29 19:00", "peak"),
    ("2026-03-29 20:59:59", "peak"), ("2026-03-29 21:00", "off_peak"),
])
def test_peak_hours_come_from_the_profile_in_local_time(local: str, period: str) -> None:
    # 29 March 2026 is Berlin's DST switch day: the hours are wall-clock hours.
    con = contract("eu-berec", {"normally_available_mbps": 100, "minimum_mbps": 50},
                   rules={"period": "peak", "peak_hours": [19, 21]})
    assert peak_hours(con) == (Fraction(19), Fraction(21))
    assert fleet_labels(con, at(local)).period == period


def test_default_peak_hours_for_profiles_without_them() -> None:
    assert peak_hours(contract("de-bnetza", DE_DOWN, DE_UP)) == DEFAULT_PEAK_HOURS


def test_json_round_trip_leaves_out_what_the_plan_lacks() -> None:
    con = contract("de-bnetza", DE_DOWN)
    data = fleet_labels(con, at("2026-03-02 08:00")).to_json_dict()
    assert "contract_upload_mbps" not in data
    assert FleetLabels.from_json_dict({**data, "unknown": 1}) == FleetLabels.from_json_dict(data)
