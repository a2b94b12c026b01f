"""The agent's waits: one timer until a moment (or for a while) that a stop cuts short, and the
wait for a synchronised clock before a test.

Whether to test on a clock reading is :mod:`probe.agent.clock`'s decision; this module reads
the clock again while that decision says wait. No polling: each wait is one timer on the
agent's stop event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from probe.agent.clock import decide_clock
from probe.agent.logjson import event

if TYPE_CHECKING:
    from probe.agent.clock import Reading
    from probe.agent.config import ClockConfig


class Sleeper:
    """Sleeps that end early when the agent is stopped."""

    def __init__(self, stop: asyncio.Event, now: Callable[[], datetime]) -> None:
        self.stop, self._now = stop, now

    async def until(self, at: datetime) -> bool:
        return await self.seconds((at - self._now()).total_seconds())

    async def seconds(self, seconds: float) -> bool:
        """Sleep (one timer, no polling); False when the agent was stopped meanwhile."""
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), timeout=seconds)
        return not self.stop.is_set()


async def wait_for_clock(read_clock: Callable[[], Reading], config: ClockConfig,
                         sleep: Sleeper, kind: str) -> tuple[bool, str | None]:
    """Wait for a synchronised clock (re-reading), unless the config says test anyway.

    Returns (test now, flag for the record). False also when the clock has just become
    synchronised: the slot was planned on a clock that may have been days off (a Pi after
    boot), so the caller plans again."""
    waited = 0.0
    while True:
        decision = decide_clock(read_clock(), config, waited)
        if decision.proceed:
            if decision.flag:
                event("clock not synchronised", level=logging.WARNING, detail=decision.reason)
            elif waited > 0:
                event("clock synchronised", detail="planning again", kind=kind)
                return False, None
            return True, decision.flag
        if waited == 0:
            event("waiting for clock", level=logging.WARNING, detail=decision.reason)
        if not await sleep.seconds(decision.wait_s):
            return False, None
        waited += decision.wait_s
