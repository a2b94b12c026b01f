"""Linux's ``struct tcp_info`` (linux/tcp.h): the fields the probe reads, parsed from bytes.

Pure: each adapter asks the kernel itself (``getsockopt(IPPROTO_TCP, TCP_INFO,
ARRIVALS_LEN)``) and hands the bytes here. What is read is what reached a receiving socket,
in order or not (:mod:`probe.engine.arrivals` says why it matters).
"""

from __future__ import annotations

import struct
from typing import Final

_RCV_MSS: Final = 20  # __u32 tcpi_rcv_mss: the largest segment payload seen (an estimate)
_DATA_SEGS_IN: Final = 152  # __u32 tcpi_data_segs_in (Linux >= 4.6)
# How many bytes to ask for: older kernels return fewer, and then nothing is known.
ARRIVALS_LEN: Final = _DATA_SEGS_IN + 4


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
