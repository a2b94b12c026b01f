"""How both ends batch the reads of a bulk body: ``SO_RCVLOWAT`` marks, and shared-tick reads.

**Batched wake-ups.** Large buffers alone do not make large reads: a reader that keeps up
with the sender is woken for every few packets. ``SO_RCVLOWAT`` asks the kernel to report a
socket readable only once a batch is queued; the batch is a time's worth of the stream's
recent rate, capped at ``MAX_READ_LOWAT_BYTES``. The client batches ``CLIENT_READ_BATCH_S``
(:func:`client_read_lowat_bytes`); the server, which serves many streams and must see a
body's end promptly, uses two regimes (:func:`server_read_lowat_bytes`, with the tick of its
retuning: :func:`server_retune_tick_s`). A mark is changed only when that is worth a system
call (:func:`worth_changing`). Why each figure: docs/measurement.md ("Client hot path") and
docs/server.md ("Upload hand-off").

**Reads on a shared tick.** One rule for both ends: the client drains slow download bodies at
its sampler's tick (``probe.client.http1``) and the server reads slow upload bodies on one
poller per process (``probe.server.poller``). Why: on a small VM every wake-up of a sleeping
Python process costs 0.1-0.3 ms of CPU whatever it then does, and a 10 Mbit/s transfer over 4
streams woke each end ~100 times a second (docs/server.md, "Upload hand-off";
docs/performance.md). A stream qualifies while a tick's worth of it fits in 1/``ENTER_HEADROOM``
of its socket's receive buffer and it moves at most ``MAX_TICK_READ_BYTES_PER_S``; it leaves
above 1/``LEAVE_HEADROOM`` or 1.25 x that rate (hysteresis). While it qualifies, its
``SO_RCVLOWAT`` is :func:`valve_bytes`: a safety valve that wakes the loop only if data piles up
between two ticks, so the receive window never closes for want of a read. The rate cap: a 125
Mbit/s stream left 100 ms of data queued in the kernel between ticks, and the 500 Mbit/s lab
upload cost the server 0.97 CPU-s/GB against 0.84 with batched reads, while wake-ups cost
nothing at such rates. Pure arithmetic: the adapters measure, this decides.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

MAX_READ_LOWAT_BYTES: Final = 256 * 1024
# The client: 50 ms of the stream's rate per read. At 10 Mbit/s 10 ms meant two packets per
# wake-up; 50 ms cut the client's CPU for an 8 s download from 0.155-0.175 to 0.110-0.125 s.
CLIENT_READ_BATCH_S: Final = 0.05
# The server: READ_BATCH_S of the rate (capped) for fast streams, retuned every
# BATCH_TICK_S; streams below MIN_READ_LOWAT_BYTES per READ_BATCH_S (~260 Mbit/s) are batched
# coarsely, by SLOW_READ_BATCH_S per read, retuned every SLOW_BATCH_TICK_S; below
# MIN_SLOW_READ_LOWAT_BYTES (~0.65 Mbit/s) reads are not batched and the tick (UNBATCHED_TICK_S)
# only has to notice a stream speeding up. The tail of a body may be smaller than the mark:
# a tick that saw no read drops the mark to 1, so a body's end is seen at most two ticks late.
READ_BATCH_S: Final = 0.002
BATCH_TICK_S: Final = 0.005
SLOW_READ_BATCH_S: Final = 0.05
SLOW_BATCH_TICK_S: Final = 0.1
UNBATCHED_TICK_S: Final = 0.1
MIN_READ_LOWAT_BYTES: Final = 64 * 1024
MIN_SLOW_READ_LOWAT_BYTES: Final = 4 * 1024

MAX_TICK_READ_BYTES_PER_S: Final = 2_500_000  # 20 Mbit/s per stream
# A tick's reads never loop forever on a socket that keeps filling: at most this many buffers.
MAX_TICK_READS: Final = 4
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


def client_read_lowat_bytes(rate_bytes_per_s: float) -> int:
    """The client's ``SO_RCVLOWAT`` for a download body moving ``rate_bytes_per_s``."""
    return max(1, min(MAX_READ_LOWAT_BYTES, int(rate_bytes_per_s * CLIENT_READ_BATCH_S)))


def server_read_lowat_bytes(rate_bytes_per_s: float) -> int:
    """The server's ``SO_RCVLOWAT`` for an upload body moving ``rate_bytes_per_s``."""
    want = min(MAX_READ_LOWAT_BYTES, int(rate_bytes_per_s * READ_BATCH_S))
    if want >= MIN_READ_LOWAT_BYTES:
        return want
    want = min(MIN_READ_LOWAT_BYTES - 1, int(rate_bytes_per_s * SLOW_READ_BATCH_S))
    return want if want >= MIN_SLOW_READ_LOWAT_BYTES else 1


def server_retune_tick_s(lowat_bytes: int) -> float:
    """How soon the server looks at an upload body's rate again, given its current mark."""
    if lowat_bytes >= MIN_READ_LOWAT_BYTES:
        return BATCH_TICK_S
    return SLOW_BATCH_TICK_S if lowat_bytes > 1 else UNBATCHED_TICK_S


def worth_changing(current: int, wanted: int) -> bool:
    """A new mark is set when it differs by a quarter or more, or drops to 1 (a body's tail)."""
    return wanted != current and (wanted == 1 or abs(wanted - current) >= current // 4)


def read_burst(read: Callable[[], int | None], take: Callable[[int], bool],
               capacity_bytes: int) -> None:
    """A tick's reads of what the kernel holds for one stream (both ends' drain loop).

    ``read`` fills the buffer and returns the count; None or 0 mean nothing to take now
    (``EAGAIN``; an end of stream or an error, which the transport's own read reports, since
    the kernel wakes it for those whatever the mark). ``take`` counts what was read and says
    whether the body wants more. A read shorter than the buffer took all there was.
    """
    for _ in range(MAX_TICK_READS):
        count = read()
        if not count:
            return
        if not take(count) or count < capacity_bytes:
            return
