"""M-Lab's Locate API v2: find ndt7 servers, backing off as M-Lab asks.

``GET {locate}/v2/nearest/ndt/ndt7`` answers ``{"results": [{"machine", "location",
"urls": {"wss:///ndt/v7/download": URL?access_token=..., "wss:///ndt/v7/upload": ...}}]}``.
HTTP 204 means "no capacity right now"; 429 "too many requests". The ndt7 spec
("Requirements for non-interactive clients") asks clients to retry after an exponentially
growing, randomised wait: 60 s first, doubling up to 960 s. :func:`backoff_delays_s` is that
schedule (pure; the jitter source is an argument). The wait a caller accepts is bounded
(``max_wait_s``); past it ``ServerUnreachable`` says M-Lab had no capacity.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Final

from probe.engines import http
from probe.errors import ProtocolViolation, ServerUnreachable

DEFAULT_LOCATE_URL: Final = "https://locate.measurementlab.net"
NEAREST_PATH: Final = "/v2/nearest/ndt/ndt7"
KEY_DOWNLOAD: Final = "wss:///ndt/v7/download"
KEY_UPLOAD: Final = "wss:///ndt/v7/upload"
FIRST_BACKOFF_S: Final = 60.0
MAX_BACKOFF_S: Final = 960.0


@dataclass(frozen=True, slots=True)
class Ndt7Target:
    """One server's two test URLs (with their access tokens) and where it is."""

    machine: str
    download_url: str
    upload_url: str
    location: str = ""


def backoff_delays_s(rng: random.Random) -> Iterator[float]:
    """60, 120, 240, 480, 960, 960 ... s, each randomised to 0.5-1.5x (no thundering herd)."""
    delay = FIRST_BACKOFF_S
    while True:
        yield delay * rng.uniform(0.5, 1.5)
        delay = min(MAX_BACKOFF_S, delay * 2)


def parse_nearest(body: object) -> list[Ndt7Target]:
    """Targets from a Locate answer; ProtocolViolation if it is not one."""
    results = body.get("results") if isinstance(body, dict) else None
    if not isinstance(results, list):
        raise ProtocolViolation("the Locate API answer has no results list")
    targets = []
    for entry in results:
        urls = entry.get("urls", {}) if isinstance(entry, dict) else {}
        down, up = urls.get(KEY_DOWNLOAD), urls.get(KEY_UPLOAD)
        if isinstance(down, str) and isinstance(up, str):
            loc = entry.get("location") or {}
            where = ", ".join(str(loc[k]) for k in ("city", "country") if loc.get(k))
            targets.append(Ndt7Target(str(entry.get("machine", "")), down, up, where))
    if not targets:
        raise ProtocolViolation("the Locate API offered no ndt7 server with wss URLs")
    return targets


async def nearest(
    locate_url: str, *, timeout_s: float, max_wait_s: float,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    rng: random.Random | None = None,
) -> list[Ndt7Target]:
    """Ask Locate for the nearest ndt7 servers, backing off on 204/429 up to ``max_wait_s``."""
    url = http.check_http_url(locate_url) + NEAREST_PATH
    waited = 0.0
    delays = backoff_delays_s(rng or random.Random())
    async with http.session(timeout_s) as client:
        while True:
            with http.translated_errors(url, timeout_s):
                async with client.get(url) as response:
                    status = response.status
                    text = await response.text()
            if status == 200:
                try:
                    return parse_nearest(json.loads(text))
                except ValueError:
                    raise ProtocolViolation(f"the Locate API at {http.where(url)} "
                                            "answered something that is not JSON") from None
            if status not in (204, 429):
                raise ProtocolViolation(f"the Locate API at {http.where(url)} answered "
                                        f"HTTP {status}")
            delay = next(delays)
            if waited + delay > max_wait_s:
                raise ServerUnreachable(
                    f"M-Lab's Locate API has no capacity (HTTP {status}) and asked to back off "
                    f"{delay:.0f} s; waited {waited:.0f} s of the {max_wait_s:g} s allowed")
            await sleep(delay)
            waited += delay
