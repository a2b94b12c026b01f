"""Confirmation and alert state: when a bad test becomes an alert, and when it is over (sans-I/O).

One test missing a contract bar is not enough to wake anyone: the server may be busy, the
path may be congested beyond the access line. So a test whose check is a ``shortfall`` asks
for an immediate **retest on another server**; only if the retest misses the same bar is the
shortfall confirmed and an alert fired. Alerts are deduplicated per line and criterion
(subscriber + criterion id): one ``firing`` when confirmed, nothing more while it lasts, one
``resolved`` when a later valid test reaches that bar again.

Flagged tests (cross-traffic, Wi-Fi, a busy CPU) check as ``inconclusive``, never shortfall,
and change nothing here. A retest on the *same* server (for example the other one was
unreachable) does not confirm: the suspicion stays open for the next test elsewhere.

The state is a frozen value with a JSON form, so it survives restarts (the daemon keeps it in
its state file) and no alert is sent twice after a reboot.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from probe.alert import Alert
from probe.compliance.verdict import Criterion, TestVerdict
from probe.measurement import Measurement, parse_utc

STATE_VERSION = 1


@dataclass(frozen=True, slots=True)
class TestOutcome:
    """One completed test and its check, with whose line it was."""

    __test__ = False  # not a pytest class

    measurement: Measurement
    verdict: TestVerdict
    plan: str
    probe: str

    @property
    def subscriber(self) -> str:
        return self.verdict.subscriber_id

    def failing(self) -> dict[str, Criterion]:
        return {criterion_key(c): c for c in self.verdict.criteria if c.passed is False}

    def passing(self) -> dict[str, Criterion]:
        return {criterion_key(c): c for c in self.verdict.criteria if c.passed is True}


def criterion_key(criterion: Criterion) -> str:
    """A bar is one rule clause in one direction (de-bnetza has ``b-normal`` both ways)."""
    return f"{criterion.direction}/{criterion.id}"


@dataclass(frozen=True, slots=True)
class Suspect:
    """A failing test waiting for its retest on another server."""

    subscriber: str
    server: str
    measurement_id: str
    at: datetime
    criteria: tuple[tuple[str, str], ...]  # (criterion id, detail with the numbers)


@dataclass(frozen=True, slots=True)
class RetestRequest:
    """Measure again now, on any server but ``avoid_server``."""

    subscriber: str
    avoid_server: str
    reason: str


@dataclass(frozen=True, slots=True)
class AlertState:
    """Open suspicions and firing alerts; serialisable for the daemon's state file."""

    suspects: tuple[Suspect, ...] = ()
    firing: tuple[Alert, ...] = ()

    def firing_for(self, subscriber: str, criterion: str) -> Alert | None:
        return next((a for a in self.firing if a.key == (subscriber, criterion)), None)

    def suspect_for(self, subscriber: str) -> Suspect | None:
        return next((s for s in self.suspects if s.subscriber == subscriber), None)

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "suspects": [{"subscriber": s.subscriber, "server": s.server,
                          "measurement_id": s.measurement_id, "at": s.at.isoformat(),
                          "criteria": [list(c) for c in s.criteria]} for s in self.suspects],
            "firing": [a.to_json_dict() for a in self.firing],
        }

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> AlertState:
        suspects = tuple(
            Suspect(str(s["subscriber"]), str(s["server"]), str(s["measurement_id"]),
                    parse_utc(s["at"]), tuple((str(c[0]), str(c[1])) for c in s["criteria"]))
            for s in data.get("suspects", ()))
        return cls(suspects, tuple(Alert.from_json_dict(a) for a in data.get("firing", ())))


@dataclass(frozen=True, slots=True)
class Step:
    """What one test changed: the new state, a retest to run now, alerts to send."""

    state: AlertState
    retest: RetestRequest | None = None
    alerts: tuple[Alert, ...] = field(default=())
    note: str = ""


def observe(state: AlertState, outcome: TestOutcome) -> Step:
    """Feed one completed test; returns the next state and what to do."""
    subscriber = outcome.subscriber
    server = outcome.measurement.server
    suspect = state.suspect_for(subscriber)
    others = tuple(s for s in state.suspects if s.subscriber != subscriber)
    failing = outcome.failing()
    at = outcome.measurement.started_at

    resolved = _resolutions(state, outcome)
    cured = {r.key for r in resolved}
    firing = tuple(a for a in state.firing if a.key not in cured)
    if outcome.verdict.verdict != "shortfall":
        # A pass or an inconclusive test: nothing to confirm; a pass contradicts a suspicion.
        if suspect is not None and server != suspect.server and outcome.verdict.verdict == "pass":
            note = (f"retest on {server} passed: the shortfall seen on {suspect.server} "
                    "is not confirmed, no alert")
            return Step(AlertState(others, firing), alerts=resolved, note=note)
        return Step(AlertState(state.suspects, firing), alerts=resolved)

    if all(state.firing_for(subscriber, cid) is not None for cid in failing):
        # Every bar it misses is already alerting: nothing new to confirm, no retest spent.
        return Step(AlertState(others, firing), alerts=resolved,
                    note=f"shortfall on {server}, already alerting")
    if suspect is None or server == suspect.server:
        # A first bad test (or a repeat on the same server): suspicion, retest elsewhere now.
        fresh = Suspect(subscriber, server, outcome.measurement.id, at,
                        tuple((cid, c.detail) for cid, c in sorted(failing.items())))
        reason = "; ".join(f"{cid}: {c.detail}" for cid, c in sorted(failing.items()))
        return Step(AlertState((*others, fresh), firing),
                    retest=RetestRequest(subscriber, server, reason), alerts=resolved,
                    note=f"shortfall on {server}, retesting on another server")

    # The retest on another server: a criterion failing on both is confirmed.
    before = dict(suspect.criteria)
    confirmed = sorted(set(before) & set(failing))
    new_alerts = []
    for cid in confirmed:
        if state.firing_for(subscriber, cid) is not None:
            continue  # already firing: deduplicated
        direction = failing[cid].direction
        new_alerts.append(Alert(
            status="firing", subscriber=subscriber, plan=outcome.plan, probe=outcome.probe,
            criterion=cid, starts_at=suspect.at,
            annotations=(
                ("summary", f"{direction}: {failing[cid].detail} (confirmed on a second server)"),
                ("direction", direction),
                ("measured", _figure(outcome.measurement, direction)),
                ("first_test", f"{suspect.server} at {suspect.at.isoformat()}: {before[cid]}"),
                ("retest", f"{server} at {at.isoformat()}: {failing[cid].detail}"),
                ("measurement_ids", f"{suspect.measurement_id},{outcome.measurement.id}"),
            )))
    note = (f"shortfall confirmed on {server} for {', '.join(confirmed)}" if confirmed
            else f"retest on {server} missed other bars than the first test: not confirmed")
    return Step(AlertState(others, (*firing, *new_alerts)), alerts=(*resolved, *new_alerts),
                note=note)


def _resolutions(state: AlertState, outcome: TestOutcome) -> tuple[Alert, ...]:
    """Firing alerts of this line whose criterion this (valid) test reaches again."""
    passing = outcome.passing()
    out = []
    for alert in state.firing:
        if alert.subscriber != outcome.subscriber or alert.criterion not in passing:
            continue
        criterion = passing[alert.criterion]
        out.append(Alert(
            status="resolved", subscriber=alert.subscriber, plan=alert.plan, probe=alert.probe,
            criterion=alert.criterion, starts_at=alert.starts_at,
            ends_at=outcome.measurement.started_at,
            annotations=(*alert.annotations,
                         ("resolved_by", f"{outcome.measurement.server} at "
                          f"{outcome.measurement.started_at.isoformat()}: {criterion.detail}"))))
    return tuple(out)


def _figure(measurement: Measurement, direction: str) -> str:
    value = {"download": measurement.download_mbps, "upload": measurement.upload_mbps,
             "latency": measurement.latency_ms}.get(direction)
    if value is None:
        return ""
    return f"{value:g} ms" if direction == "latency" else f"{value:g} Mbit/s"
