"""Alert senders against real receivers: Alertmanager 0.25 (Debian), a webhook, Apprise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from probe.alert import Alert
from probe.alerts import AlertmanagerSender, AppriseSender, FakeAlertSender, WebhookSender
from probe.errors import ConfigError, SinkError
from tests.alertkit import Alertmanager, WebhookReceiver
from tests.support import free_port

# Alertmanager compares times with its own clock: a resolved alert must have ended already.
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
T0_TEXT = T0.isoformat().replace("+00:00", "")
NOTES = (("summary", "download: 700 Mbit/s misses normally available 850 Mbit/s"),
         ("measured", "700 Mbit/s"))


def alert(status: str = "firing", criterion: str = "download/b-normal") -> Alert:
    ends = T0 + timedelta(hours=2) if status == "resolved" else None
    return Alert(status, "DE-BE-000001", "de-cable-1000", "probe-7", criterion,  # type: ignore[arg-type]
                 T0, ends, NOTES)


pytestmark = pytest.mark.services


class TestAlertmanager:
    async def test_firing_then_resolved_reach_the_receiver_once_each(
        self, alertmanager_with_hook: tuple[Alertmanager, WebhookReceiver]
    ) -> None:
        am, hook = alertmanager_with_hook
        sender = AlertmanagerSender(am.url, now=lambda: datetime.now(UTC))
        await sender.send([alert()])
        await sender.send([alert()])  # re-asserted: same fingerprint, no second notification
        first = hook.wait_for(1)
        assert len(first) == 1
        body = first[0]
        assert body["status"] == "firing"
        assert body["version"] == "4"
        [got] = body["alerts"]
        assert got["labels"] == {"alertname": "BroadbandShortfall", "subscriber": "DE-BE-000001",
                                 "plan": "de-cable-1000", "probe": "probe-7",
                                 "criterion": "download/b-normal"}
        assert got["annotations"]["measured"] == "700 Mbit/s"
        assert got["startsAt"].startswith(T0_TEXT)
        [held] = am.alerts()
        assert held["status"]["state"] == "active"
        # Held for hours, not Alertmanager's 5-minute default: no spurious resolve between tests.
        ends = datetime.fromisoformat(held["endsAt"].replace("Z", "+00:00"))
        assert ends - datetime.now(UTC) > timedelta(hours=5)

        await sender.send([alert("resolved")])
        both = hook.wait_for(2)
        assert [b["status"] for b in both] == ["firing", "resolved"]
        ends_text = (T0 + timedelta(hours=2)).isoformat().replace("+00:00", "")
        assert both[1]["alerts"][0]["endsAt"].startswith(ends_text)
        hook.wait_for(3, timeout_s=3)
        assert len(hook.bodies) == 2

    async def test_api_path_in_the_setting_is_accepted(
        self, alertmanager_with_hook: tuple[Alertmanager, WebhookReceiver]
    ) -> None:
        am, _ = alertmanager_with_hook
        await AlertmanagerSender(am.url + "/api/v2/alerts/").send([alert()])
        assert len(am.alerts()) == 1

    async def test_rejection_is_a_sink_error_with_the_reason(
        self, alertmanager_with_hook: tuple[Alertmanager, WebhookReceiver]
    ) -> None:
        am, _ = alertmanager_with_hook
        bad = Alert("resolved", "s", "p", "pr", "c", T0, T0 - timedelta(hours=1))
        with pytest.raises(SinkError, match=r"alertmanager .* answered HTTP 400: "
                                            r".*start time must be before end time"):
            await AlertmanagerSender(am.url).send([bad])

    async def test_nothing_listening(self) -> None:
        url = f"http://127.0.0.1:{free_port()}"
        with pytest.raises(SinkError, match=rf"alertmanager {url}/api/v2/alerts: "):
            await AlertmanagerSender(url, timeout_s=2).send([alert()])

    def test_url_must_be_http(self) -> None:
        with pytest.raises(ConfigError, match=r"alerts\.alertmanager\.url"):
            AlertmanagerSender("am:9093")


class TestWebhook:
    async def test_body(self, webhook_receiver: WebhookReceiver) -> None:
        await WebhookSender(webhook_receiver.url).send([alert(), alert(criterion="x/y")])
        [body] = webhook_receiver.wait_for(1)
        assert body["version"] == "1"
        assert body["status"] == "firing"
        assert [a["labels"]["criterion"] for a in body["alerts"]] == ["download/b-normal", "x/y"]
        assert body["alerts"][0]["ends_at"] is None
        assert Alert.from_json_dict(body["alerts"][0]) == alert()

    async def test_non_2xx_is_a_sink_error(self, webhook_receiver: WebhookReceiver) -> None:
        webhook_receiver.status = 503
        with pytest.raises(SinkError, match=r"webhook .* answered HTTP 503"):
            await WebhookSender(webhook_receiver.url).send([alert("resolved")])

    async def test_empty_batch_sends_nothing(self, webhook_receiver: WebhookReceiver) -> None:
        await WebhookSender(webhook_receiver.url).send([])
        assert webhook_receiver.wait_for(1, timeout_s=0.3) == []


class TestApprise:
    async def test_json_url_posts_to_the_receiver(self, webhook_receiver: WebhookReceiver) -> None:
        pytest.importorskip("apprise", reason="the alerts extra is not installed")
        port = webhook_receiver.url.split(":")[2].split("/")[0]
        sender = AppriseSender([f"json://127.0.0.1:{port}/hook"])
        await sender.send([alert()])
        [body] = webhook_receiver.wait_for(1)
        assert body["title"] == "Broadband shortfall confirmed for DE-BE-000001"
        assert "700 Mbit/s misses normally available 850 Mbit/s" in body["message"]

    async def test_failed_notification_is_a_sink_error(
        self, webhook_receiver: WebhookReceiver
    ) -> None:
        pytest.importorskip("apprise", reason="the alerts extra is not installed")
        webhook_receiver.status = 500
        port = webhook_receiver.url.split(":")[2].split("/")[0]
        with pytest.raises(SinkError, match="apprise"):
            await AppriseSender([f"json://127.0.0.1:{port}/hook"]).send([alert()])

    def test_unknown_scheme_is_a_config_error(self) -> None:
        pytest.importorskip("apprise", reason="the alerts extra is not installed")
        with pytest.raises(ConfigError, match="does not accept the URL 'nope://x'"):
            AppriseSender(["nope://x"])

    def test_missing_extra_says_how_to_install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import sys
        monkeypatch.setitem(sys.modules, "apprise", None)  # import fails as if not installed
        with pytest.raises(ConfigError, match=r"pip install 'broadband-probe\[alerts\]'"):
            AppriseSender(["json://127.0.0.1/x"])


async def test_fake_sender_records_and_fails_on_demand() -> None:
    fake = FakeAlertSender()
    await fake.send([alert()])
    assert fake.sent == [alert()]
    fake.fail = "down"
    with pytest.raises(SinkError, match="fake: down"):
        await fake.send([alert()])
