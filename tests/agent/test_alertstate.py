"""Confirmation and alert dedup: one bad test is a suspicion, a second server confirms it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from probe.agent.alertstate import AlertState, Step, TestOutcome, observe
from probe.alert import Alert
from probe.compliance.check import check_measurement
from probe.errors import RecordFormatError
from probe.measurement import Measurement
from tests.compliance.builders import DE_DOWN, DE_UP, contract

DE = contract("de-bnetza", DE_DOWN, DE_UP)
T0 = datetime(2026, 11, 29, 1, 0, tzinfo=UTC)
SERVERS = ("http://on-net.example:8080", "http://off-net.example:8080")


class Line:
    """Feeds tests for one subscriber through the state machine, as the daemon does."""

    def __init__(self) -> None:
        self.state = AlertState()
        self.n = 0
        self.sent: list[Alert] = []
        self.retests = 0

    def test(self, down: float, server: int = 0, flags: tuple[str, ...] = ()) -> Step:
        self.n += 1
        m = Measurement.from_json_dict({
            "id": f"m{self.n}", "started_at": (T0 + timedelta(minutes=self.n)).isoformat(),
            "server": SERVERS[server], "download_mbps": down, "upload_mbps": 40.0,
            "latency_ms": 10.0, "flags": list(flags)})
        step = observe(self.state, TestOutcome(m, check_measurement(DE, m), "p1", "probe-1"))
        # Through JSON each time: the state must survive a restart between any two tests.
        self.state = AlertState.from_json_dict(json.loads(json.dumps(step.state.to_json_dict())))
        self.sent.extend(step.alerts)
        self.retests += step.retest is not None
        return step

    def statuses(self) -> list[tuple[str, str]]:
        return [(a.status, a.criterion) for a in self.sent]


class TestConfirmation:
    def test_single_bad_test_contradicted_by_the_retest_sends_nothing(self) -> None:
        line = Line()
        first = line.test(500.0, server=0)
        assert first.retest is not None
        assert first.retest.avoid_server == SERVERS[0]
        assert "b-normal" in first.retest.reason
        assert "c-minimum" in first.retest.reason
        second = line.test(900.0, server=1)
        assert second.retest is None
        assert "not confirmed" in second.note
        assert line.sent == []
        assert line.state == AlertState()

    def test_confirmed_on_another_server_fires_once_per_criterion(self) -> None:
        line = Line()
        line.test(500.0, server=0)
        step = line.test(510.0, server=1)
        assert line.statuses() == [("firing", "download/b-normal"),
                                   ("firing", "download/c-minimum")]
        alert = step.alerts[0]
        assert alert.labels == {
            "alertname": "BroadbandShortfall", "subscriber": DE.subscriber_id, "plan": "p1",
            "probe": "probe-1", "criterion": "download/b-normal"}
        notes = alert.annotation_map
        assert notes["measured"] == "510 Mbit/s"
        assert "500 Mbit/s misses normally available 850 Mbit/s" in notes["first_test"]
        assert notes["retest"].startswith(SERVERS[1])
        assert alert.starts_at == T0 + timedelta(minutes=1)  # when it was first seen
        assert alert.ends_at is None

    def test_confirmation_needs_the_same_bar_missed(self) -> None:
        line = Line()
        line.test(500.0, server=0)  # misses normal and minimum
        line.test(700.0, server=1)  # misses normal only
        assert line.statuses() == [("firing", "download/b-normal")]

    def test_retest_on_the_same_server_does_not_confirm(self) -> None:
        line = Line()
        line.test(500.0, server=0)
        again = line.test(500.0, server=0)  # the other server was unreachable
        assert again.retest is not None
        assert line.sent == []
        line.test(500.0, server=1)
        assert len(line.sent) == 2

    def test_flagged_retest_neither_confirms_nor_clears(self) -> None:
        line = Line()
        line.test(500.0, server=0)
        line.test(500.0, server=1, flags=("cross_traffic",))
        assert line.sent == []
        assert line.state.suspect_for(DE.subscriber_id) is not None
        line.test(500.0, server=1)
        assert [a.status for a in line.sent] == ["firing", "firing"]


class TestDedup:
    def test_lasting_shortfall_fires_once_then_resolves_once(self) -> None:
        line = Line()
        for i in range(6):  # hours of a bad line, alternating servers
            line.test(700.0, server=i % 2)
        assert line.statuses() == [("firing", "download/b-normal")]
        line.test(900.0, server=0)
        line.test(900.0, server=1)
        line.test(900.0, server=0)
        assert line.statuses() == [("firing", "download/b-normal"),
                                   ("resolved", "download/b-normal")]
        resolved = line.sent[1]
        assert resolved.starts_at == line.sent[0].starts_at
        assert resolved.ends_at == T0 + timedelta(minutes=7)
        assert "900 Mbit/s reaches" in resolved.annotation_map["resolved_by"]
        assert line.state.firing == ()

    def test_no_retest_spent_while_the_bar_is_already_alerting(self) -> None:
        line = Line()
        line.test(700.0, 0)
        line.test(700.0, 1)
        assert line.retests == 1
        for i in range(4):
            step = line.test(700.0, i % 2)
            assert step.retest is None
            assert step.note.endswith("already alerting")
        line.test(500.0, 0)  # now the minimum is missed too: that is new, so retest
        assert line.retests == 2

    def test_a_new_episode_after_resolution_fires_again(self) -> None:
        line = Line()
        line.test(700.0, 0)
        line.test(700.0, 1)
        line.test(900.0, 0)
        line.test(700.0, 1)
        line.test(700.0, 0)
        assert [a.status for a in line.sent] == ["firing", "resolved", "firing"]

    def test_criteria_resolve_separately(self) -> None:
        line = Line()
        line.test(500.0, 0)
        line.test(500.0, 1)  # normal + minimum firing
        line.test(700.0, 0)  # minimum reached again, normal still missed (a new suspicion)
        assert line.statuses()[-1] == ("resolved", "download/c-minimum")
        assert [a.criterion for a in line.state.firing] == ["download/b-normal"]

    def test_subscribers_are_kept_apart(self) -> None:
        state = AlertState()
        alert = Alert("firing", "other", "p", "probe", "b-normal", T0)
        state = AlertState((), (alert,))
        line = Line()
        line.state = state
        line.test(900.0)
        assert line.state.firing == (alert,)


class TestStateFile:
    def test_round_trip(self) -> None:
        line = Line()
        line.test(700.0, 0)
        line.test(700.0, 1)
        line.test(700.0, 0)  # a new suspicion while firing
        data = json.loads(json.dumps(line.state.to_json_dict()))
        assert AlertState.from_json_dict(data) == line.state
        assert data["version"] == 1

    def test_alert_json_and_alertmanager_forms(self) -> None:
        alert = Alert("resolved", "s", "p", "pr", "b-normal", T0, T0 + timedelta(hours=2),
                      (("summary", "x"),))
        assert Alert.from_json_dict(alert.to_json_dict()) == alert
        am = alert.to_alertmanager()
        assert am["startsAt"] == "2026-11-29T01:00:00Z"
        assert am["endsAt"] == "2026-11-29T03:00:00Z"
        firing = Alert("firing", "s", "p", "pr", "b-normal", T0)
        assert "endsAt" not in firing.to_alertmanager()
        assert firing.to_alertmanager(ends_at=T0 + timedelta(hours=6))["endsAt"] \
            == "2026-11-29T07:00:00Z"

    @pytest.mark.parametrize(("data", "message"), [
        ({"status": "firing"}, "lacks the field 'labels'"),
        ({"status": "maybe", "labels": {}, "starts_at": "2026-01-01T00:00:00Z"}, "firing or"),
    ])
    def test_bad_alert_json(self, data: dict[str, object], message: str) -> None:
        with pytest.raises(RecordFormatError, match=message):
            Alert.from_json_dict(data)

    def test_resolved_needs_an_end_and_times_are_aware(self) -> None:
        with pytest.raises(RecordFormatError, match="ends_at"):
            Alert("resolved", "s", "p", "pr", "c", T0)
        with pytest.raises(RecordFormatError, match="timezone-aware"):
            Alert("firing", "s", "p", "pr", "c", datetime(2026, 1, 1))
