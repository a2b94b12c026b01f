"""Parsing Linux's struct tcp_info: the fields the arrival check reads, and shorter structs."""

from __future__ import annotations

import socket
import struct

import pytest

from probe import tcpinfo


def _raw(length: int = tcpinfo.INFO_LEN, *, mss: int = 1448, segments: int = 10,
         retrans: int = 0, ooo: int = 0) -> bytes:
    raw = bytearray(length)
    for offset, value in ((20, mss), (100, retrans), (152, segments), (224, ooo)):
        if offset + 4 <= length:
            struct.pack_into("=I", raw, offset, value)
    return bytes(raw)


def test_fields() -> None:
    raw = _raw(segments=7, retrans=3, ooo=2)
    assert tcpinfo.arrived_bytes(raw) == 7 * 1448
    assert tcpinfo.retransmitted_segments(raw) == 3
    assert tcpinfo.out_of_order_packets(raw) == 2


def test_older_kernels_say_less() -> None:
    before_54 = _raw(tcpinfo.ARRIVALS_LEN, segments=5, ooo=9)
    assert tcpinfo.arrived_bytes(before_54) == 5 * 1448
    assert tcpinfo.out_of_order_packets(before_54) is None
    assert tcpinfo.retransmitted_segments(before_54) == 0
    ancient = _raw(104)
    assert tcpinfo.arrived_bytes(ancient) is None
    assert tcpinfo.retransmitted_segments(ancient) == 0
    assert tcpinfo.retransmitted_segments(b"") is None


@pytest.mark.skipif(not hasattr(socket, "TCP_INFO"), reason="Linux only")
def test_a_real_socket() -> None:
    """On loopback nothing is lost; the segments received carry at least the bytes sent."""
    listener = socket.create_server(("127.0.0.1", 0))
    with listener, socket.create_connection(listener.getsockname()) as client:
        server, _ = listener.accept()
        with server:
            server.sendall(b"x" * 100_000)
            got = 0
            while got < 100_000:
                got += len(client.recv(65536))
            raw = client.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, tcpinfo.INFO_LEN)
    arrived = tcpinfo.arrived_bytes(raw)
    assert arrived is not None
    assert arrived >= 100_000
    assert tcpinfo.out_of_order_packets(raw) in (0, None)
    assert tcpinfo.retransmitted_segments(raw) == 0
