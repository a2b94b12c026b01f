"""The cache of the client's own throughput ceiling (a loopback self-test), and its facts.

The self-test itself is composed by the CLI (the client measuring a server started on
127.0.0.1); this module keeps its result in a small JSON file so that a field visit pays for
it once a week, not on every check. The cache is tied to what decides the ceiling: this
probe's version, the Python, the machine type and its CPU count. A cache from another host
(a copied state directory) or older than ``MAX_AGE_S`` is not used.

Loopback runs the server on the same CPUs, so the figure is a lower bound of what the client
alone can do; a ceiling below the plan therefore says "this device may not keep up", which the
report words as such.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from probe import __version__
from probe.environment import CLIENT_CEILING_DOWN_MBPS, CLIENT_CEILING_UP_MBPS, Fact, unknown

MAX_AGE_S = 7 * 86400
CACHE_NAME = "client-ceiling.json"


@dataclass(frozen=True, slots=True)
class Ceiling:
    """A self-test's result: goodput both ways on loopback, and when it was measured."""

    down_mbps: float
    up_mbps: float
    measured_at: datetime


def host_key() -> str:
    """What the ceiling depends on; a cache with another key is another machine's."""
    return (f"probe {__version__}; python {sys.version_info[0]}.{sys.version_info[1]}; "
            f"{platform.machine()}; {os.cpu_count()} cpus; {platform.node()}")


def load(path: Path, now: datetime) -> Ceiling | None:
    """The cached ceiling when it is this host's and fresh, else None."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("host") != host_key():
            return None
        measured_at = datetime.fromisoformat(data["measured_at"])
        if measured_at.tzinfo is None or now - measured_at > timedelta(seconds=MAX_AGE_S):
            return None
        return Ceiling(float(data["down_mbps"]), float(data["up_mbps"]), measured_at)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def save(path: Path, ceiling: Ceiling) -> None:
    """Write the cache atomically; a failure to write only costs a re-test next time."""
    body = {"host": host_key(), "down_mbps": ceiling.down_mbps, "up_mbps": ceiling.up_mbps,
            "measured_at": ceiling.measured_at.astimezone(UTC).isoformat()}
    tmp = path.with_suffix(".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(body), encoding="utf-8")
        tmp.replace(path)
    except OSError:
        pass


def ceiling_facts(ceiling: Ceiling | None, source: str, why_unknown: str = "") -> list[Fact]:
    if ceiling is None:
        return [unknown(CLIENT_CEILING_DOWN_MBPS, source, why_unknown),
                unknown(CLIENT_CEILING_UP_MBPS, source, why_unknown)]
    note = f"loopback self-test of {ceiling.measured_at.isoformat(timespec='seconds')}"
    return [Fact(CLIENT_CEILING_DOWN_MBPS, round(ceiling.down_mbps, 1), source, note),
            Fact(CLIENT_CEILING_UP_MBPS, round(ceiling.up_mbps, 1), source, note)]
