"""Uploads in progress, by the client's id: what ``GET /upload/status`` answers (issue #13).

Behind a short queue one upload stream's last segments can wait out a chain of retransmission
timeouts, so its body (and answer) completes seconds after the others', past the client's hard
bound on a run, although the server counted everything it will get up to the window's end long
before. A client that names its streams (``?id=`` on ``POST /upload``) can then ask over a
fresh connection for a late stream's timeline *so far* (:meth:`probe.wire.ReceivedTimeline.so_far`)
and count it if it covers the window. The registry holds a reference to each live timeline,
not a copy: nothing is written per read. It is bounded in count (the oldest entry goes first)
and in age (``UPLOAD_STATUS_TTL_S``), and an entry goes as soon as its body is answered, so
whatever clients do, it cannot grow without bound.
"""

from __future__ import annotations

import contextlib
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator

from probe import wire

Tracker = Callable[[wire.ReceivedTimeline], None]


class UploadRegistry:
    """Live upload timelines by id, bounded by ``max_entries`` and ``ttl_s``."""

    def __init__(self, max_entries: int = wire.UPLOAD_STATUS_MAX_ENTRIES,
                 ttl_s: float = wire.UPLOAD_STATUS_TTL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._max_entries = max_entries
        self._ttl_s = ttl_s
        self._clock = clock
        # Insertion order is age order: expiry and eviction pop from the front.
        self._entries: OrderedDict[str, tuple[float, wire.ReceivedTimeline]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    @contextlib.contextmanager
    def tracking(self, upload_id: str | None) -> Iterator[Tracker | None]:
        """A tracker to hand the body's timeline to once it exists (None: no id, nothing to
        track); the entry is removed on leaving, i.e. when the body is answered or failed."""
        if upload_id is None:
            yield None
            return
        held: list[wire.ReceivedTimeline] = []

        def track(timeline: wire.ReceivedTimeline) -> None:
            held.append(timeline)
            self._add(upload_id, timeline)

        try:
            yield track
        finally:
            for timeline in held:
                self._discard(upload_id, timeline)

    def so_far(self, upload_id: str) -> wire.UploadAnswer | None:
        """The stream's timeline until now (``partial``), None if not held."""
        now = self._clock()
        self._expire(now)
        entry = self._entries.get(upload_id)
        return None if entry is None else entry[1].so_far(now)

    def _add(self, upload_id: str, timeline: wire.ReceivedTimeline) -> None:
        now = self._clock()
        self._expire(now)
        # The same id twice (a client's bug or a guess): the newer body is the one to show.
        self._entries.pop(upload_id, None)
        while len(self._entries) >= self._max_entries:
            self._entries.popitem(last=False)
        self._entries[upload_id] = (now, timeline)

    def _discard(self, upload_id: str, timeline: wire.ReceivedTimeline) -> None:
        entry = self._entries.get(upload_id)
        if entry is not None and entry[1] is timeline:  # not a newer body's of the same id
            del self._entries[upload_id]

    def _expire(self, now: float) -> None:
        while self._entries:
            added_s, _ = next(iter(self._entries.values()))
            if now - added_s < self._ttl_s:
                return
            self._entries.popitem(last=False)
