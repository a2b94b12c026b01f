"""Alert senders: push :class:`probe.alert.Alert` transitions to where people get told.

- :class:`AlertmanagerSender` — Alertmanager's API v2 (``POST /api/v2/alerts``); routing,
  grouping, silences and receivers are then Alertmanager's job.
- :class:`WebhookSender` — a plain JSON POST for users without an Alertmanager.
- :class:`AppriseSender` — Apprise URLs (ntfy, Telegram, e-mail ...), optional ``alerts`` extra,
  imported only when configured.
- :class:`FakeAlertSender` — records what it was given; can be told to fail.

Every sender raises :class:`probe.errors.SinkError` (one line, naming the target) on failure.
"""

from probe.alerts.alertmanager import AlertmanagerSender
from probe.alerts.apprise import AppriseSender
from probe.alerts.sender import AlertSender, FakeAlertSender
from probe.alerts.webhook import WebhookSender

__all__ = ["AlertSender", "AlertmanagerSender", "AppriseSender", "FakeAlertSender",
           "WebhookSender"]
