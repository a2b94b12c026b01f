"""How a bulk sender writes: its send loop, and how much it keeps unsent (``TCP_NOTSENT_LOWAT``).

One policy for both ends: the client's upload streams (``probe.client.upload``,
``probe.client.unsent``) and the server's raw download sender (``probe.server.sender``) run
:func:`send_burst` at each writable wake-up and apply :func:`unsent_bound_bytes` from the
stream's rate. Bytes *in flight* are never limited (so neither is the congestion or receive
window, and send-buffer autotuning stays on, unlike ``SO_SNDBUF``); only what waits behind
them is.

* **Slow and medium streams: ``UNSENT_S`` of the stream's rate** (at least
  ``MIN_UNSENT_BYTES``). Whatever waits unsent at an upload's deadline must still cross the
  line before the server can answer; with the system default (autotuning queues up to 4 MB)
  a 2 Mbit/s upload drained for 7 s after an 8 s test and a 1 Mbit/s one for 40 s
  (docs/measurement.md, "Bounded duration"). 0.2 s is ~20 wake-ups per stream per 10 s at
  any rate (the kernel wakes a writer once half the bound has left), enough that a pause of
  the event loop starves no line.
* **Fast streams (>= ``FAST_STREAM_BYTES_PER_S``): ``FAST_UNSENT_BYTES``.** Above 2 Gbit/s
  per stream the CPU is the limit: megabytes queued unsent made the client do the TCP
  transmission and ACK work that iperf3 leaves to the other core (unshaped lab: 20-30 Gbit/s
  unbounded, 34-42 with 256 KiB; docs/measurement.md, "Upload CPU").
* **Before any rate is known: ``START_UNSENT_BYTES``**, so that a slow line's socket does
  not swallow megabytes in its first milliseconds.
* **Unless nothing waits for the queue (``slow_bounded=False``): slow streams keep the
  kernel's default (0).** A download's receiver aborts the connections at its deadline, so
  what waits unsent at the server never delays a run; bounding it would only add wake-ups.

The rate is best taken from *acknowledged* bytes (Linux: sent minus ``TIOCOUTQ``), which is
what crossed the line. Where only the bytes handed to the kernel are known, they include any
growth of the unsent queue, so a bound set from a 0.1 s rate would feed on its own growth
(gain ``UNSENT_S / 0.1 s`` = 2): :func:`smoothed_rate` then starts from 0 and smooths with
time constant ``RATE_TIME_CONSTANT_S`` (gain 0.2). Acknowledged rates are smoothed the same
way but start from their first reading.

The send loop (:func:`send_burst`): at each writable wake-up, ``send()`` slices until the
kernel takes less than offered (another call would only fail with ``EAGAIN``), at most
``SENDS_PER_WAKEUP`` times so that samplers and pings keep their ticks. Each byte is copied
once, by the kernel, as iperf3 does (docs/measurement.md, "Client hot path";
docs/server.md, "Raw download path").

Sans-I/O: the adapters pass their socket's ``send`` and set the option; this decides.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, Protocol

UNSENT_S: Final = 0.2
MIN_UNSENT_BYTES: Final = 4 * 1024
START_UNSENT_BYTES: Final = 16 * 1024
FAST_UNSENT_BYTES: Final = 256 * 1024
FAST_STREAM_BYTES_PER_S: Final = 250_000_000  # 2 Gbit/s per stream
RATE_TIME_CONSTANT_S: Final = 1.0
# A writer callback makes at most this many send() calls, so samplers and pings keep their ticks.
SENDS_PER_WAKEUP: Final = 8


class SendSource(Protocol):
    """What a sender sends from: the next slice, and how much of it the kernel took."""

    def next_slice(self, limit: int) -> memoryview:
        """At most ``limit`` bytes to send next (empty: nothing left)."""

    def advance(self, sent: int) -> None: ...


def send_burst(send: Callable[[memoryview], int], source: SendSource, limit: int, *,
               single: bool = False) -> None:
    """One writable wake-up's sends of ``source``'s slices (each at most ``limit`` bytes).

    Stops when the kernel takes less than offered, when the source is empty, or after one
    send with ``single`` (the caller cut ``limit`` to the room it knows of). ``EAGAIN`` and
    ``EINTR`` end the burst quietly; any other ``OSError`` (the peer closed or reset) is the
    caller's to handle.
    """
    for _ in range(SENDS_PER_WAKEUP):
        piece = source.next_slice(limit)
        if not piece:
            return
        try:
            sent = send(piece)
        except (BlockingIOError, InterruptedError):
            return
        source.advance(sent)
        if sent < len(piece) or single:
            return


def unsent_bound_bytes(rate_bytes_per_s: float | None, *, slow_bounded: bool = True) -> int:
    """The ``TCP_NOTSENT_LOWAT`` for a stream moving ``rate_bytes_per_s`` (None: not known).

    0 is the kernel's default (no bound): for slow streams when ``slow_bounded`` is False.
    """
    if rate_bytes_per_s is not None and rate_bytes_per_s >= FAST_STREAM_BYTES_PER_S:
        return FAST_UNSENT_BYTES
    if not slow_bounded:
        return 0
    if rate_bytes_per_s is None:
        return START_UNSENT_BYTES
    return max(MIN_UNSENT_BYTES, int(rate_bytes_per_s * UNSENT_S))


def smoothed_rate(previous: float | None, moved_bytes: int, interval_s: float, *,
                  acknowledged: bool) -> float | None:
    """Exponentially smoothed rate after ``moved_bytes`` in ``interval_s``; see the docstring."""
    if interval_s <= 0:
        return previous
    current = max(0.0, moved_bytes / interval_s)
    if previous is None:
        if acknowledged:
            return current
        previous = 0.0
    weight = min(1.0, interval_s / RATE_TIME_CONSTANT_S)
    return previous + weight * (current - previous)


def worth_changing(current: int, wanted: int) -> bool:
    """Skip a ``setsockopt`` for a change of less than a quarter (each costs a system call)."""
    if wanted == current:
        return False
    if 0 in (current, wanted) or (wanted == FAST_UNSENT_BYTES) != (current == FAST_UNSENT_BYTES):
        return True  # a new regime is always applied
    return abs(wanted - current) * 4 > current
