"""The client's Linux-only fast paths, behind one check.

Field laptops run macOS and Windows; the client must import and measure there. What only
Linux (with a selector event loop) offers, and what the client does without it:

* ``FIONREAD`` on a download socket: bytes received but not yet read are added to each sample
  (without it, a sample counts what was read; reads are then not batched either, so the count
  lags by at most one wake-up);
* ``TIOCOUTQ``/``SIOCOUTQNSD`` on an upload socket: bytes not yet acknowledged and not yet
  sent. They give the rate that crossed the line, let a slow stream top its unsent queue up
  exactly, end the upload so that its last byte arrives near the deadline, and size the wait
  for the server's answers (without them: the rate handed to the kernel, smoothed; the upload
  stops feeding by the queueing delay the loaded pings see plus what waits unsent, or by
  what was handed over beyond the rate the kernel now takes, whichever is longer; the wait
  assumes a full send buffer, up to the deadline + ``ANSWER_GRACE_S``);
* ``SO_RCVLOWAT`` batching of download reads and draining slow bodies at the sample tick
  (without it, every arriving segment wakes the loop: more CPU, same bytes);
* ``TCP_INFO`` on a download socket: data segments received and their size, in or out of
  order, to check that the count's window edges were not held back behind a lost segment
  (without it, the check is not made; :mod:`probe.engine.arrivals`);
* upload streams written by ``loop.add_writer`` on the raw socket (a Proactor loop on Windows
  has no ``add_writer``; without it, uploads go through the transport, as TLS ones do).

:func:`enabled` is the one check. ``PROBE_PORTABLE=1`` in the environment turns every fast
path off, so the portable path can be tested (and measured in the lab) on Linux.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from asyncio.trsock import TransportSocket
from typing import Final

from probe import tcpinfo

try:  # POSIX only
    import fcntl
    import termios
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]
    termios = None  # type: ignore[assignment]

PORTABLE_ENV: Final = "PROBE_PORTABLE"
SIOCOUTQNSD: Final = 0x894B  # linux/sockios.h: bytes queued but not yet sent

# A socket, or the view of one an asyncio transport hands out (``get_extra_info("socket")``).
SocketLike = socket.socket | TransportSocket


def enabled() -> bool:
    """True when the Linux fast paths may be used (checked at each use; it is cheap)."""
    if os.environ.get(PORTABLE_ENV, "") not in ("", "0"):
        return False
    if not sys.platform.startswith("linux") or fcntl is None or termios is None:
        return False
    if not hasattr(socket, "SO_RCVLOWAT"):
        return False
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return True
    return isinstance(loop, asyncio.SelectorEventLoop)


def _ioctl_int(sock: SocketLike, request: int) -> int | None:
    if fcntl is None:
        return None
    try:
        raw = fcntl.ioctl(sock.fileno(), request, b"\0\0\0\0")
    except (OSError, ValueError):
        return None
    return int.from_bytes(raw, sys.byteorder, signed=True)


def received_unread_bytes(sock: SocketLike) -> int | None:
    """Bytes the kernel holds for reading (``FIONREAD``), or None without fast paths."""
    if termios is None or not enabled():
        return None
    return _ioctl_int(sock, termios.FIONREAD)


def unacked_bytes(sock: SocketLike) -> int | None:
    """Bytes sent or queued but not yet acknowledged (``TIOCOUTQ``), or None."""
    if termios is None or not enabled():
        return None
    return _ioctl_int(sock, termios.TIOCOUTQ)


def unsent_bytes(sock: SocketLike) -> int | None:
    """Bytes queued but not yet sent (``SIOCOUTQNSD``), or None."""
    if not enabled():
        return None
    return _ioctl_int(sock, SIOCOUTQNSD)


def _tcp_info(sock: SocketLike) -> bytes | None:
    if not enabled() or not hasattr(socket, "TCP_INFO"):
        return None
    try:
        return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, tcpinfo.INFO_LEN)
    except (OSError, ValueError):
        return None


def arrived_bytes(sock: SocketLike) -> int | None:
    """What reached the socket, in order or not (:func:`probe.tcpinfo.arrived_bytes`), or None."""
    raw = _tcp_info(sock)
    return None if raw is None else tcpinfo.arrived_bytes(raw)


def losses_seen(sock: SocketLike) -> bool | None:
    """Whether the connection lost (or reordered) a segment so far, as this end can tell: it
    received one out of order, or it retransmitted one. None where the kernel does not say."""
    raw = _tcp_info(sock)
    if raw is None:
        return None
    counts = (tcpinfo.out_of_order_packets(raw), tcpinfo.retransmitted_segments(raw))
    if any(c is not None and c > 0 for c in counts):
        return True
    return None if counts[0] is None else False
