"""Attribution: who a test's result is down to — the line, or the home's equipment.

Pure rules over values: the contract's plan, the per-test verdict, the measurement(s) and the
host facts (:mod:`probe.environment`). Each rule that fires yields a :class:`Finding` that
cites the facts it used, says what it means for the ISP's verdict, and explains it (with a fix)
in English and Simplified Chinese (texts in :mod:`probe.compliance.attribution_text`).

The rules, in order:

- ``port-speed``: an Ethernet port whose negotiated rate carries less goodput than the plan
  (rate x 1448/1538 on the wire) caps the test; ``port-duplex``: a half-duplex link.
- ``wifi``: the test ran over Wi-Fi: measured, flagged and explained (signal, band, PHY rate
  vs plan). Wi-Fi is the bottleneck on nearly every fast line (Sharma et al. 2023); BNetzA
  refuses Wi-Fi tests as evidence.
- ``client-ceiling``: the device's own loopback ceiling is below the plan;
  ``client-cpu``: the client ran out of CPU during this test (the record's flag).
- ``cpu-load`` / ``cross-traffic``: the host was busy or the interface carried other
  traffic during the test (SamKnows' limits: 30 % CPU, 25,000 B/s).
- ``beyond-access``: the on-net server meets the contract but the off-net one does not: the
  shortfall lies beyond the access line (interconnect, transit, the far server).
- ``line``: a shortfall that no local cause explains is the line's; the facts that ruled
  local causes out are cited, and those that could not be checked are named.

A local cause that can explain a shortfall turns the ISP's verdict from ``shortfall`` into
``inconclusive``: the test cannot show whether the line would have delivered. A pass stays a
pass (the limit did not matter), with the finding reported for information.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from probe.compliance import attribution_text as text
from probe.compliance.contract import RATE_NAMES, Contract, Plan
from probe.compliance.verdict import TestVerdict, Verdict
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
    HostFacts,
)
from probe.measurement import Measurement
from probe.units import IPV4_TS_GOODPUT_SHARE_WIRE

Cause = Literal["device", "home-network", "client", "host", "beyond-access", "line", "none"]
Lang = Literal["en", "zh"]

# SamKnows/ThousandEyes hold a test back above these (measurement-methodology.md §4).
CPU_LOAD_LIMIT: Final = 0.30
CROSS_TRAFFIC_LIMIT_BYTES_S: Final = 25_000
# A Wi-Fi link moves roughly half to two-thirds of its PHY rate as TCP payload (MAC overhead,
# contention, retries); a PHY rate below plan / this share cannot carry the plan.
WIFI_GOODPUT_SHARE: Final = 0.65
CPU_FLAG: Final = "client_cpu_limited"
ALL_SCOPES: Final = ("download", "upload", "latency")


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule that fired: the facts it used, whether it limits the test, and the words."""

    rule: str
    cause: Cause
    limits: bool
    facts: tuple[Fact, ...]
    explanation: Mapping[str, str]
    fix: Mapping[str, str] = field(default_factory=dict)
    # Which missed bars this cause can explain: a 100 Mbit/s port explains a missed 300
    # Mbit/s download bar, not a missed 30 Mbit/s upload bar.
    covers: tuple[str, ...] = ALL_SCOPES

    def to_json_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "cause": self.cause, "limits": self.limits,
                "covers": list(self.covers), "facts": [f.to_json_dict() for f in self.facts],
                "explanation": dict(self.explanation), "fix": dict(self.fix)}


@dataclass(frozen=True, slots=True)
class Attribution:
    """The verdict for the ISP after attribution, and the findings behind it."""

    test_verdict: Verdict
    isp_verdict: Verdict
    cause: Cause
    findings: tuple[Finding, ...]
    summary: Mapping[str, str]

    def to_json_dict(self) -> dict[str, Any]:
        return {"test_verdict": self.test_verdict, "isp_verdict": self.isp_verdict,
                "cause": self.cause, "summary": dict(self.summary),
                "findings": [f.to_json_dict() for f in self.findings]}


@dataclass(frozen=True, slots=True)
class FieldCheck:
    """One guided check's outcome: what ``probe check`` prints and the report shows."""

    contract: Contract
    facts: HostFacts
    record: Measurement
    verdict: TestVerdict
    attribution: Attribution
    offnet: tuple[Measurement, TestVerdict] | None = None
    elapsed_s: float = 0.0


def plan_rate_mbps(plan: Plan, direction: str) -> float | None:
    """The plan's headline rate for a direction: its highest stated figure."""
    rates = plan.rates(direction)
    if rates is None:
        return None
    stated = [r for r in (rates.rate(n) for n in RATE_NAMES) if r is not None]
    return max(stated) if stated else None


def attribute(
    plan: Plan,
    verdict: TestVerdict,
    measurement: Measurement,
    facts: HostFacts,
    offnet: tuple[Measurement, TestVerdict] | None = None,
) -> Attribution:
    """Apply every rule; the first limiting cause (in rule order) is the one the summary names."""
    down = plan_rate_mbps(plan, "download")
    up = plan_rate_mbps(plan, "upload")
    plan_mbps = max((r for r in (down, up) if r is not None), default=None)
    # The bars this test missed (a flagged test the per-test check held back included).
    missed: set[str] = set()
    for c in verdict.criteria:
        if c.passed is False:
            missed |= set(ALL_SCOPES) if c.direction == "all" else {c.direction}
    failed = bool(missed)
    findings: list[Finding] = []
    findings += _port_rules(facts, {"download": down, "upload": up})
    findings += _wifi_rule(facts, plan_mbps, failed)
    findings += _client_rules(facts, measurement, down, up)
    findings += _busy_rules(facts)
    if offnet is not None:
        findings += _offnet_rule(verdict, offnet)
    limiting = [f for f in findings if f.limits and f.cause != "beyond-access"]
    explained = {scope for f in limiting for scope in f.covers}
    unexplained = sorted(missed - explained)
    isp: Verdict = verdict.verdict
    cause: Cause = next((f.cause for f in findings if f.limits), "none")
    if unexplained:
        findings.append(_line_finding(facts, unexplained))
        cause = "line"
    elif failed and limiting:
        isp = "inconclusive"
    summary = text.summary(isp, cause)
    return Attribution(verdict.verdict, isp, cause, tuple(findings), summary)


def _port_rules(facts: HostFacts, plan: Mapping[str, float | None]) -> list[Finding]:
    if facts.value(LINK_KIND) != "ethernet":
        return []
    out = []
    speed = facts.number(LINK_SPEED_MBPS)
    if speed is not None:
        ceiling = speed * IPV4_TS_GOODPUT_SHARE_WIRE
        capped = {d: r for d, r in plan.items() if r is not None and ceiling < r}
        if capped:
            out.append(Finding(
                "port-speed", "device", True, (facts.get(LINK_KIND), facts.get(LINK_SPEED_MBPS)),
                text.port_speed(speed, ceiling, max(capped.values())), text.PORT_SPEED_FIX,
                covers=tuple(capped)))
    if facts.value(LINK_DUPLEX) == "half":
        out.append(Finding("port-duplex", "device", True, (facts.get(LINK_DUPLEX),),
                           text.HALF_DUPLEX, text.HALF_DUPLEX_FIX))
    return out


def _wifi_rule(facts: HostFacts, plan_mbps: float | None, failed: bool) -> list[Finding]:
    if facts.value(LINK_KIND) != "wifi":
        return []
    cited = tuple(facts.get(n) for n in (LINK_KIND, WIFI_SIGNAL_DBM, WIFI_BAND,
                                          WIFI_PHY_RATE_MBPS))
    band = facts.value(WIFI_BAND)
    words = text.wifi(facts.number(WIFI_SIGNAL_DBM), band if isinstance(band, str) else None,
                      facts.number(WIFI_PHY_RATE_MBPS), plan_mbps, WIFI_GOODPUT_SHARE)
    # Wi-Fi limits whenever the test fell short: it is not evidence against the line.
    return [Finding("wifi", "home-network", failed, cited, words, text.WIFI_FIX)]


def _client_rules(facts: HostFacts, measurement: Measurement, down: float | None,
                  up: float | None) -> list[Finding]:
    out = []
    for name, plan_rate, label in ((CLIENT_CEILING_DOWN_MBPS, down, "download"),
                                   (CLIENT_CEILING_UP_MBPS, up, "upload")):
        ceiling = facts.number(name)
        if ceiling is not None and plan_rate is not None and ceiling < plan_rate:
            out.append(Finding("client-ceiling", "client", True, (facts.get(name),),
                               text.client_ceiling(label, ceiling, plan_rate),
                               text.CLIENT_FIX, covers=(label,)))
    if CPU_FLAG in measurement.flags:
        flag = Fact("measurement.flags", CPU_FLAG, f"measurement {measurement.id}",
                    "the client used nearly all the CPU it was allowed (a whole CPU or its "
                    "quota) during a transfer, or was throttled by its quota")
        out.append(Finding("client-cpu", "client", True, (flag,), text.CLIENT_CPU,
                           text.CLIENT_FIX))
    return out


def _busy_rules(facts: HostFacts) -> list[Finding]:
    out = []
    load = facts.number(CPU_LOAD_SHARE)
    if load is not None and load > CPU_LOAD_LIMIT:
        out.append(Finding("cpu-load", "host", True, (facts.get(CPU_LOAD_SHARE),),
                           text.cpu_load(load, CPU_LOAD_LIMIT), text.CPU_LOAD_FIX))
    cross = facts.number(CROSS_TRAFFIC_BYTES_S)
    if cross is not None and cross > CROSS_TRAFFIC_LIMIT_BYTES_S:
        out.append(Finding("cross-traffic", "home-network", True,
                           (facts.get(CROSS_TRAFFIC_BYTES_S),),
                           text.cross_traffic(cross, CROSS_TRAFFIC_LIMIT_BYTES_S),
                           text.CROSS_TRAFFIC_FIX))
    return out


def _offnet_rule(onnet: TestVerdict,
                 offnet: tuple[Measurement, TestVerdict]) -> list[Finding]:
    off_record, off_verdict = offnet
    cited = (Fact("onnet.verdict", onnet.verdict, "on-net server test"),
             Fact("offnet.verdict", off_verdict.verdict, f"off-net server {off_record.server}"))
    if onnet.verdict == "pass" and off_verdict.verdict == "shortfall":
        return [Finding("beyond-access", "beyond-access", True, cited, text.BEYOND_ACCESS)]
    if onnet.verdict == "shortfall" and off_verdict.verdict == "pass":
        return [Finding("onnet-server", "line", False, cited, text.ONNET_ONLY)]
    return [Finding("offnet-agrees", "none", False, cited, text.offnet_agrees(
        off_verdict.verdict))]


def _line_finding(facts: HostFacts, scopes: list[str]) -> Finding:
    checked = (LINK_KIND, LINK_SPEED_MBPS, CLIENT_CEILING_DOWN_MBPS, CLIENT_CEILING_UP_MBPS,
               CPU_LOAD_SHARE, CROSS_TRAFFIC_BYTES_S)
    cited = tuple(facts.get(n) for n in checked)
    unknown_names = [f.name for f in cited if not f.known]
    return Finding("line", "line", False, cited, text.line(unknown_names, scopes),
                   covers=tuple(scopes))
