"""Apprise URLs (ntfy://, tgram://, mailto:// ...) through the optional ``alerts`` extra.

Apprise is imported only when an ``[alerts] apprise`` list is configured, so the router agent
does not carry it (nor its six dependencies) unless asked. Apprise's ``notify`` blocks, so it
runs in a worker thread; it reports failure as ``False``, which becomes SinkError.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Sequence
from typing import Any

from probe.alert import Alert
from probe.errors import ConfigError, SinkError

MISSING = ("alerts.apprise needs the apprise package: "
           "pip install 'broadband-probe[alerts]' (or leave [alerts] apprise empty)")


def render(alerts: Sequence[Alert]) -> tuple[str, str]:
    """A title and a plain-text body: one paragraph per alert with its numbers."""
    firing = [a for a in alerts if a.status == "firing"]
    head = alerts[0]
    title = (f"Broadband shortfall confirmed for {head.subscriber}" if firing
             else f"Broadband shortfall resolved for {head.subscriber}")
    parts = []
    for alert in alerts:
        lines = [f"[{alert.status.upper()}] {alert.criterion} (plan {alert.plan}, "
                 f"probe {alert.probe}) since {alert.starts_at.isoformat()}"]
        lines += [f"  {k}: {v}" for k, v in alert.annotations]
        parts.append("\n".join(lines))
    return title, "\n\n".join(parts)


class AppriseSender:
    """Notifies every configured Apprise URL."""

    def __init__(self, urls: Sequence[str]) -> None:
        try:
            module: Any = importlib.import_module("apprise")
        except ImportError as exc:
            raise ConfigError(MISSING) from exc
        self.client = module.Apprise()
        for url in urls:
            if not self.client.add(url):
                # Apprise refuses unknown schemes and malformed URLs without saying why.
                raise ConfigError(f"alerts.apprise: Apprise does not accept the URL {url!r}")
        self.name = f"apprise ({len(urls)} URL{'s' if len(urls) != 1 else ''})"

    async def send(self, alerts: Sequence[Alert]) -> None:
        if not alerts:
            return
        title, body = render(alerts)
        ok = await asyncio.to_thread(self.client.notify, title=title, body=body)
        if not ok:
            raise SinkError(f"{self.name}: at least one notification failed")
