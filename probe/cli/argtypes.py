"""The argparse ``type=`` validators the commands share: counts, ports and durations.

Each turns the option's text into its value or raises ``ArgumentTypeError`` with the message
argparse shows after the option name (so bad input is one ``usage`` line and exit 2).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeVar

from probe.engine.autostop import AutoDuration, parse_auto
from probe.engine.plan import MAX_DURATION_S, MAX_STREAMS
from probe.errors import UsageError

N = TypeVar("N", int, float)


def _parse(text: str, convert: Callable[[str], N], what: str) -> N:
    try:
        return convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not {what}: {text!r}") from None


def positive_int(text: str) -> int:
    """A count of at least 1 (workers, caps, rows, batch sizes)."""
    value = _parse(text, int, "an integer")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def port(text: str) -> int:
    """A TCP port; 0 asks the system for a free one."""
    value = _parse(text, int, "a port number")
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0..65535, got {value}")
    return value


def positive_seconds(text: str) -> float:
    """A finite duration > 0 s (NaN is refused too)."""
    value = _parse(text, float, "a number of seconds")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def duration_seconds(text: str) -> float:
    """Seconds per measured direction: 1 s up to the engine's cap."""
    value = _parse(text, float, "a number of seconds")
    if not 1.0 <= value <= MAX_DURATION_S:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_DURATION_S:g}, got {text}")
    return value


def duration_or_auto(text: str) -> float | AutoDuration:
    """``auto`` or ``auto:N`` (the adaptive length, ceiling N s; docs/measurement.md) or
    seconds (:func:`duration_seconds`)."""
    try:
        auto = parse_auto(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if auto is not None:
        return auto
    try:
        return duration_seconds(text)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"{exc} (or auto)") from None


def streams(text: str) -> int:
    """Parallel TCP streams per direction: 1 up to the engine's cap."""
    value = _parse(text, int, "a whole number")
    if not 1 <= value <= MAX_STREAMS:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_STREAMS}, got {value}")
    return value
