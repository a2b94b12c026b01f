"""Alert delivery for the daemon: the alert state (probe.agent.alertstate) meets the senders.

The decisions (confirm on another server, fire once, resolve once) are alertstate's; this
module keeps its state across restarts (in the store's ``agent_state`` under
:data:`ALERTS_KEY`), builds the configured senders (probe.alerts) and sends each transition to
every one of them — a failing receiver is logged and does not stop the others or the agent.
Alertmanager senders also get the still-firing alerts again after every test, because
Alertmanager resolves an alert by itself once its ``endsAt`` passes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from probe.agent.alertstate import AlertState, Step, TestOutcome, observe
from probe.agent.config import AlertsConfig
from probe.agent.logjson import event
from probe.errors import ProbeError

if TYPE_CHECKING:
    from datetime import datetime

    from probe.agent.storethread import StoreThread
    from probe.alert import Alert
    from probe.alerts import AlertSender
    from probe.compliance.verdict import TestVerdict
    from probe.measurement import Measurement

ALERTS_KEY = "alerts"


def build_senders(config: AlertsConfig) -> list[AlertSender]:
    """The senders ``[alerts]`` configures (none: alerts are only kept in the store)."""
    if not (config.alertmanager_urls or config.webhook_urls or config.apprise_urls):
        return []
    from probe.alerts import AlertmanagerSender, AppriseSender, WebhookSender

    senders: list[AlertSender] = [AlertmanagerSender(u) for u in config.alertmanager_urls]
    senders += [WebhookSender(u) for u in config.webhook_urls]
    if config.apprise_urls:
        senders.append(AppriseSender(config.apprise_urls))
    return senders


class Alerting:
    """Feeds completed tests to the alert state and sends what it decides."""

    def __init__(self, senders: Sequence[AlertSender], *, plan: str, probe: str,
                 state: AlertState | None = None) -> None:
        self.senders = list(senders)
        self.plan, self.probe = plan, probe
        self.state = state or AlertState()

    def observe(self, measurement: Measurement, verdict: TestVerdict) -> Step:
        step = observe(self.state, TestOutcome(measurement, verdict, self.plan, self.probe))
        self.state = step.state
        return step

    async def send(self, alerts: Sequence[Alert]) -> list[str]:
        """Send transitions to every sender (and re-assert firing ones to Alertmanager);
        returns the one-line errors of the senders that failed."""
        if not self.senders:
            return []  # and no import of probe.alerts (aiohttp): alerts are only stored
        from probe.alerts import AlertmanagerSender

        errors = []
        for sender in self.senders:
            batch = list(alerts)
            if isinstance(sender, AlertmanagerSender):
                sent = {(a.key, a.status) for a in batch}
                batch += [a for a in self.state.firing if (a.key, a.status) not in sent]
            if not batch:
                continue
            try:
                await sender.send(batch)
            except ProbeError as exc:
                errors.append(str(exc))
        return errors

    async def deliver(self, alerts: Sequence[Alert], notes: Sequence[str], store: StoreThread,
                      *, at: datetime, probe_id: str, subscriber_id: str) -> None:
        """Log the confirmation notes, send the transitions, and keep them in the store (as
        agent events, with the alert state beside them)."""
        from probe.store import AgentEvent

        for note in notes:
            event("confirmation", detail=note)
        for error in await self.send(alerts):
            event("alert not sent", level=logging.WARNING, error=error)
        state_json = self.state.to_json_dict()
        events = [AgentEvent(at=at, kind="alert", probe_id=probe_id, subscriber_id=subscriber_id,
                             detail=a.to_json_dict()) for a in alerts]

        def keep() -> None:
            db = store.db()
            for one in events:
                db.save_event(one)
            db.put_state(ALERTS_KEY, state_json)

        await store.call(keep)
        for alert in alerts:
            event("alert", status=alert.status, criterion=alert.criterion,
                  subscriber=alert.subscriber)
