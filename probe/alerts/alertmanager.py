"""Alertmanager API v2: ``POST {url}/api/v2/alerts`` with postable alerts.

Alertmanager resolves an alert by itself once its ``endsAt`` has passed (default: five minutes
after the last post), because Prometheus re-sends firing alerts every evaluation. The agent
sends a transition once and re-asserts still-firing alerts after each test, so a firing alert
is posted with ``endsAt`` = now + ``hold_s`` (longer than the longest gap between tests); a
resolved alert carries its own ``endsAt``. Posting the same labels again is not a new
notification: Alertmanager deduplicates by label fingerprint.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from probe.alert import Alert
from probe.alerts.sender import DEFAULT_TIMEOUT_S, post_json
from probe.errors import ConfigError

DEFAULT_HOLD_S = 6 * 3600.0
API_PATH = "/api/v2/alerts"


class AlertmanagerSender:
    """Posts alerts to one Alertmanager (its base URL, e.g. ``http://am:9093``)."""

    def __init__(self, url: str, *, hold_s: float = DEFAULT_HOLD_S,
                 timeout_s: float = DEFAULT_TIMEOUT_S,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"alerts.alertmanager.url: must be an http(s) URL, got {url!r}")
        base = url.rstrip("/")
        # Accept the API path in the setting too; people copy it from the docs.
        self.url = base if base.endswith(API_PATH) else base + API_PATH
        self.name = f"alertmanager {base}"
        self.hold_s = hold_s
        self.timeout_s = timeout_s
        self.now = now

    async def send(self, alerts: Sequence[Alert]) -> None:
        if not alerts:
            return
        until = self.now() + timedelta(seconds=self.hold_s)
        body = [alert.to_alertmanager(ends_at=until) for alert in alerts]
        await post_json("alertmanager", self.url, body, self.timeout_s)
