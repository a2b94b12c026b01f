"""A plain JSON webhook: one POST per batch of alert transitions, for users without Alertmanager.

Body::

    {"version": "1", "source": "broadband-probe", "status": "firing",
     "alerts": [{"status": ..., "labels": {...}, "annotations": {...},
                 "starts_at": "...Z", "ends_at": null}]}

``status`` is ``firing`` when any alert in the batch fires, as in Alertmanager's own webhook.
Only a 2xx answer counts as delivered.
"""

from __future__ import annotations

from collections.abc import Sequence

from probe.alert import Alert
from probe.alerts.sender import DEFAULT_TIMEOUT_S, post_json
from probe.errors import ConfigError

WEBHOOK_VERSION = "1"


class WebhookSender:
    """POSTs alert transitions as JSON to one URL."""

    def __init__(self, url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"alerts.webhook.url: must be an http(s) URL, got {url!r}")
        self.url = url
        self.name = f"webhook {url}"
        self.timeout_s = timeout_s

    async def send(self, alerts: Sequence[Alert]) -> None:
        if not alerts:
            return
        status = "firing" if any(a.status == "firing" for a in alerts) else "resolved"
        body = {"version": WEBHOOK_VERSION, "source": "broadband-probe", "status": status,
                "alerts": [a.to_json_dict() for a in alerts]}
        await post_json("webhook", self.url, body, self.timeout_s)
