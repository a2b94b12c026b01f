"""Whether the system clock may be trusted for a test: the decision, from an injected reading.

A Raspberry Pi has no RTC and boots with the time it last saved; until NTP has synchronised,
"local day" and "peak hours" (and the record's start time) may be wrong. Sans-I/O: the reading
comes from probe.hostfacts.clock (kernel ``adjtimex`` state, or systemd-timesyncd's marker
file); this module only decides:

- synchronised, or the check is off → test;
- not synchronised and ``require_sync`` → wait, re-reading every ``recheck_s``; after
  ``max_wait_s`` (when > 0) test anyway, flagging the record ``clock-unsynchronised``;
- not synchronised and not ``require_sync`` → test, flagging the record;
- unknown (no source could be read) → test unflagged; the reading's detail is logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from probe.agent.config import ClockConfig

UNSYNCHRONISED_FLAG = "clock-unsynchronised"


class Reading(Protocol):
    """What probe.hostfacts.clock.ClockSync provides (read-only attributes)."""

    @property
    def synchronised(self) -> bool | None: ...

    @property
    def source(self) -> str: ...

    @property
    def detail(self) -> str: ...


@dataclass(frozen=True, slots=True)
class ClockReading:
    """An injected reading (tests, simulations)."""

    synchronised: bool | None  # None: no source could say
    source: str  # "adjtimex", "timesyncd", "off", "none"
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ClockDecision:
    proceed: bool
    flag: str | None = None
    wait_s: float = 0.0
    reason: str = ""


def decide_clock(reading: Reading, config: ClockConfig, waited_s: float) -> ClockDecision:
    """What to do given the reading and how long the agent has already waited for sync."""
    if reading.synchronised is None or reading.synchronised:
        state = "unknown" if reading.synchronised is None else "synchronised"
        return ClockDecision(True, reason=f"clock {state} ({reading.source})")
    if not config.require_sync:
        return ClockDecision(True, UNSYNCHRONISED_FLAG,
                             reason=f"clock not synchronised ({reading.source}); testing anyway")
    if config.max_wait_s > 0 and waited_s >= config.max_wait_s:
        return ClockDecision(True, UNSYNCHRONISED_FLAG,
                             reason=f"clock still not synchronised after {waited_s:.0f} s "
                             f"({reading.source}); testing, record flagged")
    return ClockDecision(False, wait_s=config.recheck_s,
                         reason=f"waiting for the system clock to synchronise ({reading.source}"
                         f"{': ' + reading.detail if reading.detail else ''})")
