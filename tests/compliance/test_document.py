"""Validation of contracts documents: every problem named by its dotted key."""

from __future__ import annotations

import copy
from datetime import date, datetime
from typing import Any

import pytest

from probe.compliance.contract import ContractSet
from probe.compliance.document import parse_document
from probe.compliance.params import count_needed, exact_product_mbps
from probe.compliance.params import exact as exact_decimal

BASE: dict[str, Any] = {
    "plan": {"id": "k", "name": "Kabel", "technology": "cable", "profile": "de-bnetza",
             "download": {"maximum_mbps": 1000, "normally_available_mbps": 850,
                          "minimum_mbps": 600},
             "upload": {"maximum_mbps": 50, "normally_available_mbps": 35, "minimum_mbps": 15}},
    "contract": {"subscriber_id": "A", "time_zone": "Europe/Berlin", "start": date(2026, 1, 1)},
}


def _problems(edit) -> list[str]:
    doc = copy.deepcopy(BASE)
    edit(doc)
    parsed = parse_document(doc)
    assert not isinstance(parsed, ContractSet)
    return [str(p) for p in parsed]


def _set(path: str, value: object):
    def edit(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = doc
        for part in parents:
            node = node[part]
        if value is KeyError:
            del node[last]
        else:
            node[last] = value
    return edit


class TestValidDocument:
    """The base document validates and keeps its figures."""

    def test_base(self) -> None:
        parsed = parse_document(BASE)
        assert isinstance(parsed, ContractSet)
        con = parsed.contracts["A"]
        assert (con.plan.download.minimum_mbps, con.time_zone, con.start) == (
            600, "Europe/Berlin", date(2026, 1, 1))


class TestProblems:
    """Each bad value gives exactly one problem naming its key."""

    @pytest.mark.parametrize(("path", "value", "problem"), [
        ("plan.download.minimum_mbps", -5,
         "plan.download.minimum_mbps: must be a number > 0, got -5"),
        ("plan.download.minimum_mbps", 0,
         "plan.download.minimum_mbps: must be a number > 0, got 0"),
        ("plan.download.minimum_mbps", True,
         "plan.download.minimum_mbps: must be a number > 0, got True"),
        ("plan.download.minimum_mbps", "600",
         "plan.download.minimum_mbps: must be a number > 0, got '600'"),
        ("plan.download.minimum_mbps", float("nan"),
         "plan.download.minimum_mbps: must be a number > 0, got nan"),
        ("plan.download.minimum_mbps", 900,
         "plan.download.minimum_mbps: minimum (900) must not exceed normally_available (850)"),
        ("plan.upload.normally_available_mbps", 60,
         "plan.upload.normally_available_mbps: normally_available (60) must not exceed "
         "maximum (50)"),
        ("plan.download.minimum_mbps", KeyError,
         "plan.download.minimum_mbps: is required by profile de-bnetza"),
        ("plan.download", KeyError, "plan.download: is required"),
        ("plan.download.speed_mbps", 5, "plan.download.speed_mbps: unknown key (known: "
         "advertised_mbps, maximum_mbps, minimum_mbps, normally_available_mbps)"),
        ("plan.profile", "de", "plan.profile: unknown profile 'de' (known: cn-miit, de-bnetza, "
         "eu-berec, uk-ofcom, us-fcc, custom)"),
        ("plan.technology", "pigeon", "plan.technology: must be one of FTTH, FTTB, FTTC, cable, "
         "DSL, 5G-FWA, LTE-FWA, satellite, other, got 'pigeon'"),
        ("plan.name", KeyError, "plan.name: is required"),
        ("plan.rules", {"gap_h": -1}, "plan.rules.gap_h: must be >= 0, got -1"),
        ("plan.rules", {"normal_share": 1.5}, "plan.rules.normal_share: must be a share in "
         "(0, 1], got 1.5"),
        ("plan.rules", {"campaign": "best"}, "plan.rules.campaign: must be one of first, "
         "latest, got 'best'"),
        ("plan.rules", {"measurements_per_day": 2.5}, "plan.rules.measurements_per_day: must be "
         "a whole number >= 1, got 2.5"),
        ("contract.time_zone", "Europe/Berln",
         "contract.time_zone: unknown IANA time zone 'Europe/Berln'"),
        ("contract.time_zone", "../etc/passwd",
         "contract.time_zone: unknown IANA time zone '../etc/passwd'"),
        ("contract.time_zone", KeyError, "contract.time_zone: is required"),
        ("contract.start", datetime(2026, 1, 1, 8, 0),
         "contract.start: must be a date like 2026-01-31, got datetime.datetime(2026, 1, 1, 8, 0)"),
        ("contract.plan", "nope", "contract.plan: no plan 'nope' (plans: k)"),
        ("contract.subscriber_id", "", "contract.subscriber_id: must be a non-empty string, "
         "got ''"),
    ])
    def test_one_problem(self, path, value, problem) -> None:
        assert _problems(_set(path, value)) == [problem]

    def test_window_parameter(self) -> None:
        def edit(doc: dict[str, Any]) -> None:
            doc["plan"]["profile"] = "us-fcc"
            doc["plan"]["download"]["advertised_mbps"] = 1000
            doc["plan"]["upload"]["advertised_mbps"] = 50
            doc["plan"]["rules"] = {"testing_hours": [20, 18]}
        assert _problems(edit) == ["plan.rules.testing_hours: needs 0 <= start < end <= 24 "
                                   "(local hours), got [20, 18]"]

    def test_arrays_of_tables_and_duplicates(self) -> None:
        doc = copy.deepcopy(BASE)
        doc["plan"] = [doc["plan"], copy.deepcopy(doc["plan"])]
        doc["contract"] = [doc["contract"], copy.deepcopy(doc["contract"])]
        doc["contract"][0]["plan"] = doc["contract"][1]["plan"] = "k"
        problems = [str(p) for p in parse_document(doc)]  # type: ignore[union-attr]
        assert problems == ["plan[1].id: duplicate plan id 'k'",
                            "contract[1].subscriber_id: duplicate subscriber 'A'"]

    def test_empty_document(self) -> None:
        assert [str(p) for p in parse_document({})] == [  # type: ignore[union-attr]
            "plan: is required: the file has no [plan] table"]


class TestExactNumbers:
    """Shares and bars are the decimals as written, decided in integers."""

    @pytest.mark.parametrize(("share", "n", "needed"), [
        (0.9, 30, 27), (0.9, 29, 27), (0.9, 10, 9), (0.8, 5, 4), (0.95, 20, 19), (0.7, 10, 7),
        (1.0, 7, 7), (0.5, 3, 2), (0.58, 100, 58),
    ])
    def test_count_needed(self, share, n, needed) -> None:
        assert count_needed(exact_decimal(share), n) == needed

    @pytest.mark.parametrize(("factor", "rate", "bar"), [
        (0.9, 42, 37.8), (0.8, 3, 2.4), (0.9, 1000, 900.0), (0.8, 0.8, 0.64)])
    def test_bar(self, factor, rate, bar) -> None:
        assert exact_product_mbps(exact_decimal(factor), rate) == bar
