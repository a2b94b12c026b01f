"""The arrival check: was a window edge's count held back behind a lost segment?

A download is counted as the application can read it, and TCP hands bytes over in order
only: after a loss, everything behind the hole waits until the retransmission arrives. A
window that starts while bytes are held back and ends after they were handed over counts
them inside the window although they crossed the line before it: the reading is high. On a
2 Mbit/s line behind a 0.6 s queue, loss recovery holds back up to a second of the line, and
released evenly enough over a short window, the count can look like a straight line at the
wrong rate (a 6 s run read +12.8 % with neither lead nor catch-up seen,
:mod:`probe.engine.throughput`).

The kernel also counts data segments as they *arrive*, in order or not (``TCP_INFO``
``tcpi_data_segs_in``). Segments x the largest segment's payload is an upper bound on the
payload that reached the host: segments that are not full, repeated ones and response heads
only add to it, and it never waits behind a hole. So over the window the readable count can
move more than the arrivals only if its start edge was held back; by more than
``COUNTED_AHEAD_SHARE`` of the window's bytes and the window is not evidence
(:func:`counted_ahead_share`).

The other side, a count that moved less than the arrivals, is an end edge held back: the
reading is low, a false shortfall (a 6 s 2 Mbit/s download behind 0.6 s read -24.6 % with
a straight count). But repeated and short segments also put the arrivals ahead, on clean
lines a little and on loopback, where segments are rarely full, by 30 % and more. So that
side counts only on connections that lost a segment (the receiver got one out of order, or
the sender retransmitted one: ``losses_seen``), and only beyond ``COUNTED_BEHIND_SHARE``.
Without a loss nothing was held back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from probe.engine.counts import cumulative_at
from probe.measurement import Sample

# Over a window the readable count may run ahead of the arrivals by this share before the
# window counts as held back at its start: inside the ±2 % a reading must keep, and above
# what choosing the edges on the count's upper envelope adds by itself. Lab, 2 Mbit/s, 6 s,
# 10 rounds each (2026-11-29 12:11): behind a 20 ms queue the count ran ahead by at most
# 1.0 % (readings -0.45 ... +0.63 %); behind 0.6 s it ran behind by 0.3-72 % (its end held
# back; every one already flagged), while the arrivals read within -0.43 ... +0.07 %.
COUNTED_AHEAD_SHARE: Final = 0.015
# ... and behind them by this share, on connections that lost segments, before the window
# counts as held back at its end. The arrivals read high by the chunk framing, repeated and
# short segments: lab, 2026-11-29 12:11-12:49, clean and 20 ms queues at 2-100 Mbit/s, the
# count ran behind by at most 0.23 % (download) and 1.44 % (upload) where it was steady.
# A 6 s 2 Mbit/s download behind 0.6 s read -24.6 % with a straight count (13:10).
COUNTED_BEHIND_SHARE: Final = 0.02


def counted_ahead_share(counted: Sequence[Sample], arrived: Sequence[Sample],
                        start_s: float, end_s: float) -> float | None:
    """How much more the count moved than the arrivals over ``[start_s, end_s]``, as a share.

    ``(Δcounted - Δarrived) / Δcounted``; positive when the count's start edge was held back
    (see the module docstring), None without arrivals or without bytes in the window.
    """
    if len(arrived) < 2 or end_s <= start_s:
        return None
    moved = cumulative_at(counted, end_s) - cumulative_at(counted, start_s)
    if moved <= 0:
        return None
    came = cumulative_at(arrived, end_s) - cumulative_at(arrived, start_s)
    return (moved - came) / moved


def held_back(share: float | None, *, losses_seen: bool | None) -> bool:
    """Whether :func:`counted_ahead_share` says a window edge was held back.

    Ahead by more than ``COUNTED_AHEAD_SHARE``: the start was. Behind by more than
    ``COUNTED_BEHIND_SHARE`` on connections that lost a segment (``losses_seen``): the end
    was. Without a loss nothing can be held back, and short or repeated segments alone put
    the arrivals ahead (on loopback by 30 % and more), so that side needs the loss.
    """
    if share is None:
        return False
    return share > COUNTED_AHEAD_SHARE or (losses_seen is True and share < -COUNTED_BEHIND_SHARE)
