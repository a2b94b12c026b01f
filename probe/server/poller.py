"""Slow upload streams read on one shared timer per process instead of waking it each.

Why: on the 2-vCPU lab VM every wake-up of a sleeping Python server costs 0.1-0.3 ms of CPU
whatever it then does (docs/server.md, "Upload hand-off"). A 10 Mbit/s upload over 4 streams woke
the server ~100 times a second: each stream's ``SO_RCVLOWAT`` batches (20/s) and its own
retune tick (10/s). That was twice iperf3's server CPU for the same bytes.

A :class:`SharedPoller` wakes once every ``POLL_INTERVAL_S`` for all its members and each
member reads everything its socket holds (:func:`read_into`). Members keep their socket
registered with the event loop, with a high ``SO_RCVLOWAT`` as a safety valve: should data pile
up between two polls, the kernel wakes the loop as before, so the receive window never closes
for want of a read. An end of stream or an error also wakes the loop (the kernel reports them
whatever the mark), and the transport handles them as usual; a poll only ever takes data.

Samples stay exact: each is the count after a read that took everything that had arrived.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from typing import Final, Protocol

POLL_INTERVAL_S: Final = 0.1


class Polled(Protocol):
    def poll(self, now: float) -> None:
        """Read what has arrived; may leave the poller (``discard``) from inside."""


class SharedPoller:
    """One repeating timer that polls every member; it runs only while there are members."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._members: dict[Polled, None] = {}  # insertion-ordered: polled in arrival order
        self._handle: asyncio.TimerHandle | None = None
        self._next_at = 0.0

    def __len__(self) -> int:
        return len(self._members)

    def add(self, member: Polled) -> None:
        self._members[member] = None
        if self._handle is None:
            self._next_at = self._loop.time() + POLL_INTERVAL_S
            self._handle = self._loop.call_at(self._next_at, self._tick)

    def discard(self, member: Polled) -> None:
        self._members.pop(member, None)
        if not self._members and self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _tick(self) -> None:
        self._handle = None
        now = self._loop.time()
        for member in list(self._members):
            if member in self._members:  # a member's poll may have ended another's
                member.poll(now)
        if self._members:
            # A fixed grid, so late ticks do not drift; a tick missed entirely is skipped.
            self._next_at = max(self._next_at + POLL_INTERVAL_S, now + POLL_INTERVAL_S / 2)
            self._handle = self._loop.call_at(self._next_at, self._tick)


_pollers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, SharedPoller] = (
    weakref.WeakKeyDictionary()
)


def shared_poller() -> SharedPoller:
    """The running loop's poller (made on first use)."""
    loop = asyncio.get_running_loop()
    poller = _pollers.get(loop)
    if poller is None:
        poller = _pollers[loop] = SharedPoller(loop)
    return poller


def read_into(fd: int, view: memoryview) -> int | None:
    """One non-blocking read of ``fd`` into ``view``: the count, or None for nothing to take.

    None also for an end of stream or an error: the transport's own read, which the kernel
    wakes for those whatever the mark, reports them to the protocol as usual.
    """
    try:
        count = os.readv(fd, [view])
    except (BlockingIOError, InterruptedError):
        return None
    except OSError:
        return None
    return count or None
