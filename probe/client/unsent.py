"""The unsent-queue bound of one upload socket: :mod:`probe.sendpolicy` applied at each tick.

The policy is pure (it is shared with the server's download sender); this adapter measures
the stream (acknowledged bytes where :mod:`probe.client.fastpaths` can read ``TIOCOUTQ``,
else bytes handed over) and sets ``TCP_NOTSENT_LOWAT``. Where the option is missing (not
Linux, or no socket under a TLS transport) the stream simply queues more and its upload ends
later; the rate is still kept, for the chunk size and for the transport's write buffer.
"""

from __future__ import annotations

import contextlib
import socket

from probe import sendpolicy
from probe.client import fastpaths


class UnsentBound:
    """Keeps a socket's unsent queue to ~0.2 s of its smoothed rate (``sock`` None: rate only)."""

    def __init__(self, sock: fastpaths.SocketLike | None) -> None:
        self._sock = sock
        self.rate: float | None = None  # smoothed, bytes/s
        self._counted = 0.0
        self._lowat = 0
        self._wanted = sendpolicy.unsent_bound_bytes(None)
        self.set_bound(self._wanted)

    @property
    def bound_bytes(self) -> int:
        """The unsent bound in force (the one wanted, where the option is missing)."""
        return self._lowat or self._wanted

    def tick(self, payload: float, interval_s: float) -> None:
        """``payload``: bytes handed to the kernel so far; the rate is of those acknowledged
        where the kernel says how many are not (``TIOCOUTQ``), else of those handed over."""
        unacked = None if self._sock is None else fastpaths.unacked_bytes(self._sock)
        acked = payload if unacked is None else payload - unacked
        self.rate = sendpolicy.smoothed_rate(self.rate, int(acked - self._counted), interval_s,
                                             acknowledged=unacked is not None)
        self._counted = acked
        self.set_bound(sendpolicy.unsent_bound_bytes(self.rate))

    def room(self) -> int | None:
        """How much a slow stream may add to its unsent queue now (None: no limit).

        The kernel checks ``TCP_NOTSENT_LOWAT`` only before each new buffer, and one buffer
        can hold half the peer's window (35 KB seen at 0.5 Mbit/s, against a 4 KiB bound), so
        a slow stream's sends are cut to the bound exactly.
        """
        if self._sock is None or self._lowat == 0 or self._lowat >= sendpolicy.FAST_UNSENT_BYTES:
            return None
        unsent = fastpaths.unsent_bytes(self._sock)
        return None if unsent is None else max(0, self._lowat - unsent)

    def set_bound(self, want: int) -> None:
        self._wanted = want
        if self._sock is None or not sendpolicy.worth_changing(self._lowat, want):
            return
        # Not on this platform: the stream simply queues more, and its upload ends later.
        with contextlib.suppress(AttributeError, OSError):
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT, want)
            self._lowat = want
