"""Upload streams retired on a slow line: the decision's bookkeeping and their early answers.

The rule is :mod:`probe.engine.streamcount` (the same as for downloads): once per upload it
compares what the line holds in flight with the streams' count and keeps enough streams to
carry it. A retired upload stream is not closed: it finishes its body at once (the rest of
its chunk and the last chunk) and the server answers for it as for the others, so its bytes
are counted; the window then runs while the kept streams did, from the retirement on
(:func:`probe.engine.summary.summarise_direction`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from probe.client.responses import Response
from probe.client.upload import UploadStream
from probe.engine.streamcount import RetireCheck
from probe.measurement import Sample


class UploadRetirement:
    """Which upload streams are still fed, and the answers of those that were retired."""

    def __init__(self, streams: Sequence[UploadStream]) -> None:
        self._streams = list(streams)
        self._check = RetireCheck(len(self._streams))
        self.active: list[UploadStream] = list(self._streams)
        self._answers: dict[int, asyncio.Task[asyncio.Future[Response]]] = {}
        self._losses: list[bool | None] = []

    @property
    def at_s(self) -> float | None:
        """When streams were retired (the direction's clock), None if none were."""
        return self._check.at_s

    @property
    def retired(self) -> int:
        return len(self._streams) - len(self.active)

    def check(self, t_s: float, acked: Sequence[Sample],
              pings: Sequence[tuple[float, float]]) -> None:
        """At a tick: retire streams if the rule says so now (it decides once)."""
        keep = self._check.due(t_s, acked, pings)
        if keep is None or keep >= len(self.active):
            return
        for index in range(keep, len(self._streams)):
            # Read now: its answer will close the connection.
            self._losses.append(self._streams[index].losses_seen())
            self._answers[index] = asyncio.ensure_future(self._streams[index].finish())
        del self.active[keep:]

    async def finish_all(self) -> list[asyncio.Future[Response]]:
        """Every stream's answer, in stream order (the kept ones finish now)."""
        return [await (self._answers[i] if i in self._answers else s.finish())
                for i, s in enumerate(self._streams)]

    def losses_seen(self) -> list[bool | None]:
        """Per stream, whether it lost a segment (retired ones as read at retirement)."""
        return [*self._losses, *(s.losses_seen() for s in self.active)]

    def cancel(self) -> None:
        for task in self._answers.values():
            task.cancel()
