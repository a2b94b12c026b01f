"""How many of a direction's streams to keep once the line is known: the stream-count rule.

Several streams fill a fast, long path that one cannot (docs/measurement.md, "Number of
streams"). On a slow line behind a short queue they under-fill it instead: what the line
holds in flight (its rate times the loaded round trip: the path's bandwidth-delay product
plus the bottleneck queue) is split into windows of two or three packets, too few for three
duplicate ACKs, so a loss waits for a retransmission timeout (>= 200 ms) instead of being
repaired fast, and when every stream waits at once the line idles. Measured in the lab at
5 Mbit/s behind a 20 ms tbf queue (about nine packets in flight): four streams read 1.1-2 %
low in every round and up to 3.8 % in some (iperf3 with ``-P 4`` alike), one stream 0.1-0.3 %
low (iperf3 ``-P 1`` alike).

So, once per download, at the first tick from ``CHECK_AT_S`` on (once two loaded pings are
back), the client asks :func:`streams_to_keep` with the rate it sees and the loaded round
trip the side channel saw; connections beyond that number are closed on purpose
(*retired*), and the steady-state window starts again after the retirement (the warm-up
rule counts from it). A stream keeps at least ``MIN_PACKETS_PER_STREAM`` packets in flight;
fast or long paths, and slow lines behind deep queues, keep every stream. Unknown inputs
keep every stream.

Uploads use it too, from the same rate (``MIN_RETIRE_RATE_BYTES_PER_S``) up: below it, the
stream left alone recovered from its quarter share for seconds in the lab (1-2 Mbit/s, 6 s
runs 6-10 % low, one unflagged); at 5 Mbit/s behind 20 ms one stream read -0.47 % median,
-1.29 % at worst in 10 s runs where four read -0.97 % and -3.34 % (docs/measurement.md).

Sans-I/O: the adapters measure; this decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from probe.engine.counts import recent_rate
from probe.measurement import Sample

# recent_rate lived here and is re-exported; it is a count reader (probe.engine.counts).
__all__ = [
    "CHECK_AT_S",
    "CHECK_BY_S",
    "MIN_PACKETS_PER_STREAM",
    "MIN_RETIRE_RATE_BYTES_PER_S",
    "PINGS_FROM_S",
    "PINGS_WANTED",
    "RATE_SPAN_S",
    "SEGMENT_BYTES",
    "RetireCheck",
    "loaded_rtt_s",
    "recent_rate",
    "streams_to_keep",
]

# When to decide, seconds into the direction: past slow start on any line this applies to
# (its window is a few packets), with two loaded pings under load at the default 0.4 s.
CHECK_AT_S: Final = 1.2
# Until two loaded pings have come back (one may have waited out a retransmission timeout,
# or a deep queue), the decision waits, until this at the latest; with none, every stream
# is kept.
CHECK_BY_S: Final = 2.5
PINGS_WANTED: Final = 2
# Loaded pings sent before this (seconds into the direction) may have crossed an empty queue.
PINGS_FROM_S: Final = 0.3
# Fast retransmit needs three duplicate ACKs behind a lost segment, so four packets in flight
# at the least, and room for the window's halving after a loss. Six was not enough: at
# 5 Mbit/s behind 20 ms (12-17 packets in flight) two kept streams read -1.4 to -4.3 % low,
# five of ten unflagged; one stream -0.1 to -0.5 % (lab, 10 s, 2026-11-29).
MIN_PACKETS_PER_STREAM: Final = 12
SEGMENT_BYTES: Final = 1448  # a full segment's payload on a 1500-byte MTU with timestamps
# Below this rate every stream is kept: one stream's count stalls whole while a loss is
# repaired, and at 2 Mbit/s behind 20 ms single-stream downloads were flagged in 8 of 20 10 s
# runs and read -2.6 % and -8.5 % unflagged in two 6 s CI runs (four streams there: worst
# -1.68 %). From 5 Mbit/s on one stream read -0.1 to -1.7 % in 26 runs, none flagged.
MIN_RETIRE_RATE_BYTES_PER_S: Final = 500_000  # 4 Mbit/s


def loaded_rtt_s(pings: Sequence[tuple[float, float]]) -> float | None:
    """The lowest loaded round trip (s) of ``(sent_s, rtt_ms)`` pings sent from
    ``PINGS_FROM_S`` on; None if there is none.

    The lowest, not the median: behind a short queue the side channel's own packets are
    dropped too, and a ping that waited out a retransmission timeout read 480-800 ms where
    the queue held 100 ms. The lowest loaded one still crossed the queue as it was.
    """
    rtts = [rtt_ms for sent_s, rtt_ms in pings if sent_s >= PINGS_FROM_S]
    return min(rtts) / 1000.0 if rtts else None


def streams_to_keep(streams: int, rate_bytes_per_s: float | None,
                    rtt_s: float | None) -> int:
    """How many of ``streams`` to keep (``streams`` itself when nothing should change).

    ``rate_bytes_per_s``: the direction's recent aggregate rate; ``rtt_s``: the loaded round
    trip, queueing included. Their product is what the line holds in flight.
    """
    if streams <= 1 or rate_bytes_per_s is None or rtt_s is None:
        return streams
    if rate_bytes_per_s < MIN_RETIRE_RATE_BYTES_PER_S or rtt_s <= 0:
        return streams
    in_flight_packets = rate_bytes_per_s * rtt_s / SEGMENT_BYTES
    if in_flight_packets >= streams * MIN_PACKETS_PER_STREAM:
        return streams
    return max(1, int(in_flight_packets // MIN_PACKETS_PER_STREAM))


RATE_SPAN_S: Final = 0.5  # the recent rate the rule is given: the last half second of samples


class RetireCheck:
    """The once-per-direction decision, asked at every tick until it is made.

    :meth:`due` returns how many streams to keep the first time it is asked at or after
    ``CHECK_AT_S`` (None before, and after the decision); the caller retires the rest.
    """

    def __init__(self, streams: int) -> None:
        self._streams = streams
        self.decided = streams <= 1
        self.kept = streams
        self.at_s: float | None = None

    def due(self, t_s: float, samples: Sequence[Sample],
            pings: Sequence[tuple[float, float]]) -> int | None:
        """``samples``: the direction's count so far; ``pings``: ``(sent_s, rtt_ms)`` on the
        same clock. The number of streams to keep, once; None otherwise."""
        if self.decided or t_s < CHECK_AT_S:
            return None
        usable = [p for p in pings if p[0] >= PINGS_FROM_S]
        if len(usable) < PINGS_WANTED and t_s < CHECK_BY_S:
            return None
        rtt_s = loaded_rtt_s(usable)
        self.decided = True
        self.kept = streams_to_keep(self._streams, recent_rate(samples, RATE_SPAN_S), rtt_s)
        if self.kept < self._streams:
            self.at_s = t_s
        return self.kept
