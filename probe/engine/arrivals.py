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
(:func:`counted_ahead_share`). The check is one-sided on purpose: repeated and short
segments make arrivals run ahead of the count on clean lines too, so the other side would
flag them; a held-back end edge reads low, and the count's caught-up edges and the lead and
catch-up checks cover that side.
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


def held_back_at_start(share: float | None) -> bool:
    """Whether :func:`counted_ahead_share` says the window's start edge was held back."""
    return share is not None and share > COUNTED_AHEAD_SHARE
