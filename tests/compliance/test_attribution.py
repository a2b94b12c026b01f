"""Attribution rules on injected facts: a table of homes, each with the verdict the ISP gets,
the cause named, and the facts each finding cites."""

from __future__ import annotations

import pytest

from probe.compliance.attribution import attribute, plan_rate_mbps
from probe.compliance.check import check_measurement
from probe.environment import (
    CLIENT_CEILING_DOWN_MBPS,
    CLIENT_CEILING_UP_MBPS,
    CPU_LOAD_SHARE,
    CROSS_TRAFFIC_BYTES_S,
    LINK_DUPLEX,
    LINK_KIND,
    LINK_SPEED_MBPS,
    WIFI_BAND,
    WIFI_PHY_RATE_MBPS,
    WIFI_SIGNAL_DBM,
    Fact,
    FactValue,
    HostFacts,
)
from probe.measurement import Measurement
from tests.compliance.builders import contract

# A Chinese 300/30 FTTH plan: a test is 达标 at >= 0.9 x 300 down and 0.9 x 30 up.
CN = contract("cn-miit", {"maximum_mbps": 300}, {"maximum_mbps": 30},
              {"rate_factor": 0.9, "required_share": 0.9, "min_measurements": 10},
              tz="Asia/Shanghai")


def record(down: float, up: float, flags: tuple[str, ...] = (), server: str = "on") -> Measurement:
    return Measurement.from_json_dict({
        "id": f"m-{server}", "started_at": "2026-06-01T12:00:00+00:00", "server": server,
        "download_mbps": down, "upload_mbps": up, "latency_ms": 8.0, "flags": list(flags)})


def host(**values: FactValue) -> HostFacts:
    names = {"kind": LINK_KIND, "speed": LINK_SPEED_MBPS, "duplex": LINK_DUPLEX,
             "signal": WIFI_SIGNAL_DBM, "band": WIFI_BAND, "phy": WIFI_PHY_RATE_MBPS,
             "ceil_down": CLIENT_CEILING_DOWN_MBPS, "ceil_up": CLIENT_CEILING_UP_MBPS,
             "cpu": CPU_LOAD_SHARE, "cross": CROSS_TRAFFIC_BYTES_S}
    return HostFacts(tuple(Fact(names[k], v, f"test:{k}") for k, v in values.items()))


WIRED_OK = {"kind": "ethernet", "speed": 1000, "duplex": "full", "ceil_down": 9000.0,
            "ceil_up": 6000.0, "cpu": 0.05, "cross": 100.0}

CASES = [
    # name, measured down/up, flags, facts, test verdict, ISP verdict, cause, rules fired
    ("100M port under a 300M plan", 94.0, 29.0, (),
     {**WIRED_OK, "speed": 100}, "shortfall", "inconclusive", "device", ["port-speed"]),
    ("100M port explains the download, not the missed upload", 94.0, 20.0, (),
     {**WIRED_OK, "speed": 100}, "shortfall", "shortfall", "line", ["port-speed", "line"]),
    ("gigabit port, line short", 200.0, 29.0, (),
     WIRED_OK, "shortfall", "shortfall", "line", ["line"]),
    ("gigabit port, line meets", 285.0, 29.0, (),
     WIRED_OK, "pass", "pass", "none", []),
    ("half duplex", 150.0, 20.0, (),
     {**WIRED_OK, "duplex": "half"}, "shortfall", "inconclusive", "device", ["port-duplex"]),
    ("Wi-Fi, weak 2.4 GHz", 60.0, 20.0, (),
     {"kind": "wifi", "signal": -78.0, "band": "2.4 GHz", "phy": 72.0},
     "shortfall", "inconclusive", "home-network", ["wifi"]),
    ("Wi-Fi that passes is still flagged", 290.0, 29.0, (),
     {"kind": "wifi", "signal": -50.0, "band": "5 GHz", "phy": 866.7},
     "pass", "pass", "none", ["wifi"]),
    ("client ceiling below plan", 180.0, 29.0, (),
     {**WIRED_OK, "ceil_down": 220.0}, "shortfall", "inconclusive", "client",
     ["client-ceiling"]),
    ("client CPU flag (the check already held it back)", 180.0, 29.0, ("client_cpu_limited",),
     WIRED_OK, "inconclusive", "inconclusive", "client", ["client-cpu"]),
    ("busy CPU", 180.0, 29.0, (),
     {**WIRED_OK, "cpu": 0.8}, "shortfall", "inconclusive", "host", ["cpu-load"]),
    ("cross-traffic", 180.0, 29.0, (),
     {**WIRED_OK, "cross": 2_000_000.0}, "shortfall", "inconclusive", "home-network",
     ["cross-traffic"]),
    ("nothing known: shortfall kept, unknowns named", 180.0, 29.0, (),
     {}, "shortfall", "shortfall", "line", ["line"]),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_attribution_table(case: tuple) -> None:
    _, down, up, flags, facts, test_verdict, isp, cause, rules = case
    m = record(down, up, flags)
    verdict = check_measurement(CN, m)
    assert verdict.verdict == test_verdict
    result = attribute(CN.plan, verdict, m, host(**facts))
    assert (result.isp_verdict, result.cause) == (isp, cause)
    assert [f.rule for f in result.findings] == rules
    for finding in result.findings:
        assert finding.explanation["en"]
        assert finding.explanation["zh"]
        assert finding.facts, f"{finding.rule} cites no fact"
    assert result.summary["en"]
    assert result.summary["zh"]


def test_port_finding_cites_speed_and_explains_fix() -> None:
    m = record(94.0, 29.0)
    result = attribute(CN.plan, check_measurement(CN, m), m, host(**{**WIRED_OK, "speed": 100}))
    port = result.findings[0]
    assert [f.name for f in port.facts] == [LINK_KIND, LINK_SPEED_MBPS]
    assert port.facts[1].source == "test:speed"
    assert "network port" in port.explanation["en"]
    assert "100 Mbit/s" in port.explanation["en"]
    assert "300 Mbit/s" in port.explanation["en"]
    assert "94.1 Mbit/s" in port.explanation["en"]  # 100 x 1448/1538 = 94.15 of goodput
    assert "网口" in port.explanation["zh"]
    assert "gigabit" in port.fix["en"]
    assert "千兆" in port.fix["zh"]


def test_each_finding_says_which_missed_bars_it_explains() -> None:
    m = record(94.0, 20.0)
    result = attribute(CN.plan, check_measurement(CN, m), m, host(**{**WIRED_OK, "speed": 100}))
    port, line = result.findings
    assert port.covers == ("download",)
    assert line.covers == ("upload",)
    assert "upload shortfall" in line.explanation["en"]
    assert "上传速率不足" in line.explanation["zh"]


def test_wifi_explains_signal_band_and_phy_rate_vs_plan() -> None:
    m = record(60.0, 20.0)
    facts = host(kind="wifi", signal=-78.0, band="2.4 GHz", phy=72.0)
    wifi = attribute(CN.plan, check_measurement(CN, m), m, facts).findings[0]
    en = wifi.explanation["en"]
    assert "weak signal (-78 dBm)" in en
    assert "2.4 GHz" in en
    assert "72.0 Mbit/s" in en
    assert "300 Mbit/s plan" in en
    assert "信号较弱" in wifi.explanation["zh"]
    assert "cable" in wifi.fix["en"]


def test_gigabit_port_is_enough_for_a_900_plan_but_not_a_1000_plan() -> None:
    """1000 Mbit/s on the wire carries 941.5 Mbit/s of goodput (1448/1538)."""
    for plan_mbps, fires in ((900, False), (1000, True)):
        con = contract("cn-miit", {"maximum_mbps": plan_mbps}, None,
                       {"rate_factor": 0.9, "required_share": 0.9, "min_measurements": 10},
                       tz="Asia/Shanghai")
        m = record(500.0, 20.0)
        result = attribute(con.plan, check_measurement(con, m), m, host(**WIRED_OK))
        assert ("port-speed" in [f.rule for f in result.findings]) is fires


class TestOnNetOffNet:
    def test_onnet_meets_offnet_fails_is_beyond_the_access_line(self) -> None:
        on, off = record(285.0, 29.0), record(120.0, 29.0, server="off")
        result = attribute(CN.plan, check_measurement(CN, on), on, host(**WIRED_OK),
                           offnet=(off, check_measurement(CN, off)))
        assert (result.isp_verdict, result.cause) == ("pass", "beyond-access")
        finding = result.findings[-1]
        assert finding.rule == "beyond-access"
        assert [f.value for f in finding.facts] == ["pass", "shortfall"]
        assert "beyond" in finding.explanation["en"]
        assert "接入段之外" in finding.explanation["zh"]

    def test_both_fail_is_the_line(self) -> None:
        on, off = record(120.0, 29.0), record(110.0, 29.0, server="off")
        result = attribute(CN.plan, check_measurement(CN, on), on, host(**WIRED_OK),
                           offnet=(off, check_measurement(CN, off)))
        assert (result.isp_verdict, result.cause) == ("shortfall", "line")
        assert [f.rule for f in result.findings] == ["offnet-agrees", "line"]


def test_unknown_facts_are_named_not_guessed() -> None:
    m = record(180.0, 29.0)
    result = attribute(CN.plan, check_measurement(CN, m), m, HostFacts())
    assert "could not be checked" in result.findings[0].explanation["en"]
    assert "network port's speed" in result.findings[0].explanation["en"]


def test_plan_rate_is_the_highest_stated_figure() -> None:
    de = contract("de-bnetza", {"maximum_mbps": 1000, "normally_available_mbps": 850,
                                "minimum_mbps": 600})
    assert plan_rate_mbps(de.plan, "download") == 1000
    assert plan_rate_mbps(de.plan, "upload") is None


def test_json_form() -> None:
    m = record(94.0, 29.0)
    body = attribute(CN.plan, check_measurement(CN, m), m,
                     host(**{**WIRED_OK, "speed": 100})).to_json_dict()
    assert body["isp_verdict"] == "inconclusive"
    assert body["findings"][0]["facts"][1] == {"name": LINK_SPEED_MBPS, "value": 100,
                                               "source": "test:speed", "note": ""}
