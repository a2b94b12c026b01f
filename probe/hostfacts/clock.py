"""Is the system clock synchronised? The kernel's NTP state (adjtimex) or timesyncd's marker.

``adjtimex(2)`` with ``modes = 0`` only reads; it returns the clock state, ``TIME_ERROR`` (5)
while the kernel considers the clock unsynchronised (``STA_UNSYNC``: no NTP client has
disciplined it since boot). Any NTP client (chrony, ntpd, systemd-timesyncd, busybox ntpd on
OpenWrt) clears it. systemd-timesyncd also creates ``/run/systemd/timesync/synchronized`` once
it has synchronised: the fallback where adjtimex cannot be called. The decision on the reading
is probe.agent.clock's.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from pathlib import Path

TIME_ERROR = 5
TIMESYNCD_MARKER = Path("/run/systemd/timesync/synchronized")
# struct timex is 208 bytes on 64-bit Linux, less on 32-bit; zeroed, ``modes`` (its first
# field) is 0, which makes the call read-only.
_TIMEX_BYTES = 512


@dataclass(frozen=True, slots=True)
class ClockSync:
    synchronised: bool | None  # None: this source cannot say
    source: str
    detail: str = ""


def read_adjtimex() -> ClockSync:
    try:
        # The process's own symbols (libc among them): no ldconfig run per reading.
        libc = ctypes.CDLL(None, use_errno=True)
        buffer = ctypes.create_string_buffer(_TIMEX_BYTES)
        state = int(libc.adjtimex(buffer))
    except (OSError, AttributeError) as exc:
        return ClockSync(None, "adjtimex", f"cannot call adjtimex: {exc}")
    if state < 0:
        return ClockSync(None, "adjtimex", f"adjtimex failed (errno {ctypes.get_errno()})")
    return ClockSync(state != TIME_ERROR, "adjtimex",
                     "kernel clock state TIME_ERROR (unsynchronised)" if state == TIME_ERROR
                     else f"kernel clock state {state}")


def read_timesyncd(marker: Path = TIMESYNCD_MARKER) -> ClockSync:
    if marker.exists():
        return ClockSync(True, "timesyncd", str(marker))
    if marker.parent.exists():
        return ClockSync(False, "timesyncd", f"{marker} does not exist yet")
    return ClockSync(None, "timesyncd", "systemd-timesyncd is not running")


def read_clock_sync(source: str = "auto") -> ClockSync:
    """The reading from ``source``: adjtimex, timesyncd, off, or auto (adjtimex, then marker)."""
    if source == "off":
        return ClockSync(True, "off", "clock check disabled")
    if source == "timesyncd":
        return read_timesyncd()
    reading = read_adjtimex()
    if reading.synchronised is None and source == "auto":
        return read_timesyncd()
    return reading
