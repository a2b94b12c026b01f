"""Linux's ``struct tcp_info`` (linux/tcp.h): the fields the probe reads, parsed from bytes.

Pure: each adapter asks the kernel itself (``getsockopt(IPPROTO_TCP, TCP_INFO, INFO_LEN)``)
and hands the bytes here. What is read is what reached a receiving socket, in order or not,
and whether a connection lost segments (:mod:`probe.engine.arrivals` says why it matters), and
the fields the ndt7 server reports (:func:`named_fields`). The struct's layout lives here only.
"""

from __future__ import annotations

import struct
from typing import Final

_RCV_MSS: Final = 20  # __u32 tcpi_rcv_mss: the largest segment payload seen (an estimate)
_TOTAL_RETRANS: Final = 100  # __u32 tcpi_total_retrans: segments this sender retransmitted
_DATA_SEGS_IN: Final = 152  # __u32 tcpi_data_segs_in (Linux >= 4.6)
_RCV_OOOPACK: Final = 224  # __u32 tcpi_rcv_ooopack: packets received out of order (>= 5.4)
ARRIVALS_LEN: Final = _DATA_SEGS_IN + 4
# How many bytes to ask for: older kernels return fewer, and then what is past their end is
# not known.
INFO_LEN: Final = _RCV_OOOPACK + 4

# The fields ndt7 reports, under the names of Go's tcp_info (probe.server.ndt7), and how many
# bytes to ask for them (through tcpi_snd_wnd).
NAMED_LEN: Final = 232
_NAMED_U32: Final = {"RTO": 8, "SndMSS": 16, "RcvMSS": _RCV_MSS, "Unacked": 24, "Retrans": 36,
                     "RTT": 68, "RTTVar": 72, "SndCwnd": 80, "TotalRetrans": _TOTAL_RETRANS,
                     "MinRTT": 148}
_NAMED_U64: Final = {"PacingRate": 104, "BytesAcked": 120, "BytesReceived": 128,
                     "DeliveryRate": 160, "BusyTime": 168, "RWndLimited": 176,
                     "SndBufLimited": 184, "BytesSent": 200, "BytesRetrans": 208}


def named_fields(raw: bytes) -> dict[str, int]:
    """The fields ndt7 reports (times in microseconds), those the struct is long enough for."""
    info: dict[str, int] = {}
    for name, offset in _NAMED_U32.items():
        if offset + 4 <= len(raw):
            info[name] = int(struct.unpack_from("I", raw, offset)[0])
    for name, offset in _NAMED_U64.items():
        if offset + 8 <= len(raw):
            info[name] = int(struct.unpack_from("Q", raw, offset)[0])
    return info


def arrived_bytes(raw: bytes) -> int | None:
    """Data segments received x the largest segment's payload; None from a shorter struct.

    Segments are counted as they arrive (GRO-merged ones one by one), in order or not, so the
    figure does not stall behind a lost segment as the readable bytes do. It can only read
    high: segments that are not full, repeated ones and headers (HTTP, chunk framing, TLS)
    add to it.
    """
    if len(raw) < ARRIVALS_LEN:
        return None
    (mss,) = struct.unpack_from("=I", raw, _RCV_MSS)
    (segments,) = struct.unpack_from("=I", raw, _DATA_SEGS_IN)
    return int(segments) * int(mss)


def out_of_order_packets(raw: bytes) -> int | None:
    """Packets this receiver got out of order (a loss, or reordering, before them); None
    from a kernel older than 5.4."""
    if len(raw) < INFO_LEN:
        return None
    (count,) = struct.unpack_from("=I", raw, _RCV_OOOPACK)
    return int(count)


def retransmitted_segments(raw: bytes) -> int | None:
    """Segments this sender retransmitted; None from a shorter struct."""
    if len(raw) < _TOTAL_RETRANS + 4:
        return None
    (count,) = struct.unpack_from("=I", raw, _TOTAL_RETRANS)
    return int(count)
