"""The alert-sender interface, its fake, and the one HTTP POST both HTTP senders make."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any, Protocol

import aiohttp

from probe.alert import Alert
from probe.errors import SinkError

DEFAULT_TIMEOUT_S = 10.0


class AlertSender(Protocol):
    """Delivers alert transitions; raises SinkError when the target did not take them."""

    name: str

    async def send(self, alerts: Sequence[Alert]) -> None: ...


class FakeAlertSender:
    """Keeps every alert it is given (``sent``); raises SinkError while ``fail`` is set."""

    def __init__(self, name: str = "fake", *, fail: str | None = None) -> None:
        self.name = name
        self.fail = fail
        self.sent: list[Alert] = []

    async def send(self, alerts: Sequence[Alert]) -> None:
        if self.fail is not None:
            raise SinkError(f"{self.name}: {self.fail}")
        self.sent.extend(alerts)


async def post_json(target: str, url: str, body: Any, timeout_s: float) -> None:
    """POST ``body`` as JSON; any non-2xx answer or transport failure becomes SinkError."""
    payload = json.dumps(body).encode()
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as s, \
                s.post(url, data=payload, headers={"Content-Type": "application/json"}) as resp:
            if 200 <= resp.status < 300:
                return
            text = (await resp.text(errors="replace")).strip().replace("\n", " ")[:200]
            raise SinkError(f"{target} {url} answered HTTP {resp.status}: {text}")
    except TimeoutError as exc:
        raise SinkError(f"{target} {url} did not answer within {timeout_s:g} s") from exc
    except asyncio.CancelledError:
        raise
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        raise SinkError(f"{target} {url}: {exc.__class__.__name__}: {exc}") from exc
