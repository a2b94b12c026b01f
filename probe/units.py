"""Unit conversions, so that every quantity name can end in its unit.

Mbit/s here is always 10**6 bit/s of application payload (goodput) unless a name says otherwise.
"""

from __future__ import annotations

BITS_PER_BYTE = 8
MBIT = 1_000_000

# Share of an Ethernet frame that is TCP payload for IPv4 with TCP timestamps, as a tc shaper
# on a veth counts it (14-byte Ethernet header, no FCS/preamble/IFG): MSS 1448 / frame 1514.
IPV4_TS_GOODPUT_SHARE_VETH = 1448 / 1514
# The same on a real Ethernet wire (adds 4 FCS + 8 preamble + 12 inter-frame gap = 1538).
IPV4_TS_GOODPUT_SHARE_WIRE = 1448 / 1538


def mbps_from_bytes(payload_bytes: float, seconds: float) -> float:
    """Goodput in Mbit/s for ``payload_bytes`` moved in ``seconds`` (0 when no time passed)."""
    if seconds <= 0:
        return 0.0
    return payload_bytes * BITS_PER_BYTE / seconds / MBIT


def bytes_from_mbps(rate_mbps: float, seconds: float) -> float:
    """Payload bytes moved at ``rate_mbps`` over ``seconds``."""
    return rate_mbps * MBIT * seconds / BITS_PER_BYTE
