"""When a slow stream is read on a shared tick instead of on wake-ups of its own.

One rule for both ends: the client drains slow download bodies at its sampler's tick
(``probe.client.http1``) and the server reads slow upload bodies on one poller per process
(``probe.server.poller``). Why: on a small VM every wake-up of a sleeping Python process costs
0.1-0.3 ms of CPU whatever it then does, and a 10 Mbit/s transfer over 4 streams woke each end
~100 times a second (docs/server.md, "Upload hand-off"; docs/performance.md).

A stream qualifies while a tick's worth of it fits in 1/``ENTER_HEADROOM`` of its socket's
receive buffer and it moves at most ``MAX_TICK_READ_BYTES_PER_S``; it leaves above
1/``LEAVE_HEADROOM`` or 1.25 x that rate (hysteresis). While it qualifies, its ``SO_RCVLOWAT``
is :func:`valve_bytes`: a safety valve that wakes the loop only if data piles up between two
ticks, so the receive window never closes for want of a read. The rate cap: a 125 Mbit/s
stream left 100 ms of data queued in the kernel between ticks, and the 500 Mbit/s lab upload
cost the server 0.97 CPU-s/GB against 0.84 with batched reads, while wake-ups cost nothing
at such rates. Pure arithmetic: the adapters measure, this decides.
"""

from __future__ import annotations

from typing import Final

MAX_TICK_READ_BYTES_PER_S: Final = 2_500_000  # 20 Mbit/s per stream
ENTER_HEADROOM: Final = 4
LEAVE_HEADROOM: Final = 3
LEAVE_RATE_SHARE: Final = 1.25


def read_on_tick(rate_bytes_per_s: float, tick_s: float, rcvbuf_bytes: int, *,
                 reading_on_tick: bool) -> bool:
    """Should a stream moving ``rate_bytes_per_s`` be read on a ``tick_s`` tick?

    ``rcvbuf_bytes`` is the socket's current receive buffer (0: unknown or not allowed, e.g.
    TLS, where only the transport can read); ``reading_on_tick`` says whether it already is.
    """
    if rcvbuf_bytes <= 0:
        return False
    headroom, cap = ((LEAVE_HEADROOM, LEAVE_RATE_SHARE * MAX_TICK_READ_BYTES_PER_S)
                     if reading_on_tick else (ENTER_HEADROOM, MAX_TICK_READ_BYTES_PER_S))
    return rate_bytes_per_s <= cap and rate_bytes_per_s * tick_s * headroom <= rcvbuf_bytes


def valve_bytes(rcvbuf_bytes: int, floor_bytes: int = 1) -> int:
    """The ``SO_RCVLOWAT`` of a stream read on a tick: a quarter of its receive buffer."""
    return max(floor_bytes, rcvbuf_bytes // ENTER_HEADROOM)
