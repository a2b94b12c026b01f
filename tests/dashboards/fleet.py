"""A small simulated fleet for the dashboard query tests, with the verdicts the rules give it.

Nine subscribers on three plans (cn-miit FTTH, de-bnetza cable, eu-berec DSL) in five regions,
three days of tests at varied local hours (evening dips, one under-delivering line, Wi-Fi
flagged tests), two measurement servers, window verdicts at the end of day 2 and of the data
(whole window and per period, as ``probe report --write-back`` writes them), and probe status
points. Per-test verdicts come from ``check_measurement`` and window verdicts from
``evaluate_fleet`` / ``evaluate_periods`` — the rule functions — so the test can compare every
panel's query result with them. (When ``probe simulate`` lands on main this builder can give
way to it.)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from probe.alert import Alert
from probe.cli.contract_files import load_contracts
from probe.compliance.check import check_measurement
from probe.compliance.contract import Contract
from probe.compliance.fleet import evaluate_fleet
from probe.compliance.labels import fleet_labels
from probe.compliance.periods import evaluate_periods
from probe.compliance.verdict import Evaluation
from probe.measurement import Measurement
from probe.sinks.fleetpoints import (
    ProbeStatus,
    encode_alert,
    encode_probe_status,
    encode_window_verdict,
)
from probe.sinks.lineprotocol import LabelledRecord, encode_point
from tests.store.builders import make_measurement

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"
T0 = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
DAYS = 3
# UTC hours of the day's tests: spread so every zone sees peak and off-peak ones.
HOURS = (0.4, 2.6, 5.3, 8.1, 11.2, 13.7, 16.9, 19.3, 21.2, 23.1)
SERVERS = ("srv-a", "http://198.18.0.1:8080")


@dataclass(frozen=True)
class SimTest:
    """One simulated test as the rules saw it."""

    measurement: Measurement
    contract: Contract
    probe_id: str
    verdict: str
    labels: dict[str, object]

    @property
    def compliant(self) -> float | None:
        return {"pass": 1.0, "shortfall": 0.0}.get(self.verdict)


@dataclass(frozen=True)
class Fleet:
    tests: list[SimTest]
    windows: list[tuple[datetime, Evaluation]]
    # (at, period, evaluation): the verdicts on only the period's tests
    period_windows: list[tuple[datetime, str, Evaluation]]
    statuses: list[ProbeStatus]
    alerts: list[Alert]
    contracts: dict[str, Contract]
    lines: list[str]
    start: datetime
    end: datetime


def _contracts() -> dict[str, Contract]:
    base = {}
    for name in ("cn-ftth-300", "de-cable-1000", "eu-berec-dsl-100"):
        base.update(load_contracts(CONTRACTS / f"{name}.toml").contracts)
    regions = {"CN-GD-000001": ("CN-GD", "CN-BJ"), "DE-BE-000001": ("DE-BE", "DE-BY"),
               "AT-W-000001": ("AT-9", "AT-9")}
    out = {}
    for sub, con in base.items():
        for k in range(3):
            region = regions[sub][0 if k < 2 else 1]
            new = dataclasses.replace(con, subscriber_id=f"{sub[:5]}-{k}", region=region,
                                      start=None)
            out[new.subscriber_id] = new
    return out


def _rate_factor(sub_index: int, k: int, peak: bool) -> float:
    """Line 0 of each plan delivers 95-105 %; line 1 dips in the evening; line 2 under-delivers."""
    wobble = 0.95 + 0.01 * ((sub_index * 7 + k * 3) % 11)
    if sub_index % 3 == 2:
        wobble *= 0.62
    return wobble * (0.8 if peak and sub_index % 3 == 1 else 1.0)


def build() -> Fleet:
    contracts = _contracts()
    tests: list[SimTest] = []
    n = 0
    for s, (sub, con) in enumerate(contracts.items()):
        probe_id = f"probe-{sub.lower()}"
        for day in range(DAYS):
            for k, hour in enumerate(HOURS):
                start = T0 + timedelta(days=day, hours=hour, seconds=s * 7)
                peak = fleet_labels(con, start).period == "peak"
                factor = _rate_factor(s, k + day, peak)
                m = make_measurement(n, started_at=start, samples=2,
                                     server=SERVERS[(s + k) % 2],
                                     flags=("wifi",) if (s + k + day) % 13 == 0 else ())
                assert m.download is not None
                assert m.upload is not None
                assert m.latency
                head_down = con.plan.rate("download", "maximum")
                head_up = con.plan.rate("upload", "maximum")
                m = dataclasses.replace(
                    m,
                    download=dataclasses.replace(
                        m.download, goodput_mbps=round(head_down * factor, 3),
                        loaded_latency_ms=20.0 + k),
                    upload=dataclasses.replace(
                        m.upload, goodput_mbps=round(head_up * min(1.0, factor * 1.05), 3),
                        loaded_latency_ms=30.0 + day),
                    latency=dataclasses.replace(m.latency, median_ms=10.0 + s + 0.5 * k))
                verdict = check_measurement(con, m).verdict
                labels = fleet_labels(con, start).to_json_dict()
                tests.append(SimTest(m, con, probe_id, verdict, labels))
                n += 1
    windows = []
    period_windows = []
    for day in (2, DAYS):
        cut = T0 + timedelta(days=day)
        frame = pd.DataFrame([{
            "subscriber_id": t.contract.subscriber_id, "started_at": t.measurement.started_at,
            "download_mbps": t.measurement.download_mbps, "upload_mbps": t.measurement.upload_mbps,
            "latency_ms": t.measurement.latency_ms, "flagged": bool(t.measurement.flags),
        } for t in tests if t.measurement.started_at < cut])
        frame["started_at"] = pd.to_datetime(frame["started_at"], utc=True)
        at = cut - timedelta(minutes=30)
        windows += [(at, e) for e in evaluate_fleet(frame, contracts)]
        period_windows += [(at, period, e) for period, evaluations
                           in evaluate_periods(frame, contracts).items() for e in evaluations]
    statuses = [
        ProbeStatus(f"probe-{sub.lower()}", T0 + timedelta(days=d, hours=12, seconds=s),
                    outbox_backlog=(s * 5 + d) % 9, outbox_quarantined=0,
                    tests_completed=10 * (d + 1), tests_deferred=s + d, tests_skipped=s % 2 + d,
                    uptime_s=86400.0 * (d + 1))
        for s, sub in enumerate(contracts) for d in range(DAYS)
    ]
    lines = [encode_point(LabelledRecord.of(
        t.measurement, t.probe_id, fleet=t.labels, subscriber_id=t.contract.subscriber_id,
        contract_ref=t.contract.plan.id, verdict=t.verdict)) for t in tests]
    lines += [encode_window_verdict(e, contracts[e.subscriber_id], at) for at, e in windows]
    lines += [encode_window_verdict(e, contracts[e.subscriber_id], at, period=period)
              for at, period, e in period_windows]
    lines += [encode_probe_status(s) for s in statuses]
    # The agent's confirmed shortfalls on the under-delivering lines: one fired and resolved,
    # one still firing.
    alerts = [
        Alert("firing", sub, contracts[sub].plan.id, f"probe-{sub.lower()}", "download/normal",
              starts_at=T0 + timedelta(hours=9))
        for sub in ("AT-W--2", "CN-GD-2")
    ]
    alerts.append(dataclasses.replace(alerts[0], status="resolved",
                                      ends_at=T0 + timedelta(days=1, hours=9)))
    lines += [encode_alert(a) for a in alerts]
    return Fleet(tests, windows, period_windows, statuses, alerts, contracts, lines,
                 start=T0 - timedelta(hours=1), end=T0 + timedelta(days=DAYS, hours=1))
