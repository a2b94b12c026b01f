"""The measurement plan (what to measure and for how long) and the progress value.

A :class:`MeasurePlan` is validated when it is built, so an adapter never has to guess what a
nonsense value means: a plan that cannot be run raises :class:`~probe.errors.UsageError`.
:class:`Progress` is what an adapter reports while a plan runs (the CLI draws it).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Final, Literal

from probe.engine.autostop import AutoDuration
from probe.errors import UsageError
from probe.measurement import Direction

# Four parallel TCP streams: enough to fill a 1 Gbit/s path at 50 ms RTT with Linux's default
# autotuning limits (one stream's rwnd tops out near the 6.25 MB BDP) and to hide one stream's
# loss recovery, while costing a router's CPU a quarter of SamKnows' 8. Evidence and loopback
# CPU figures per stream count: docs/measurement.md, "Number of streams".
DEFAULT_STREAMS: Final = 4
DEFAULT_DURATION_S: Final = 10.0
DEFAULT_DIRECTIONS: Final[tuple[Direction, ...]] = ("down", "up")
DEFAULT_PING_COUNT: Final = 10
DEFAULT_SAMPLE_INTERVAL_S: Final = 0.1
DEFAULT_LOADED_PING_INTERVAL_S: Final = 0.4
# Connect + first byte must happen within this; a stalled transfer is abandoned after it too.
DEFAULT_CONNECT_TIMEOUT_S: Final = 10.0

MIN_DURATION_S: Final = 1.0
# Half the server's DEFAULT_MAX_TRANSFER_S (60 s): an upload stream also needs time after the
# deadline to drain its socket buffers, and a server that cuts it off (408) fails the run.
MAX_DURATION_S: Final = 30.0
MAX_STREAMS: Final = 32
MIN_PING_COUNT: Final = 10  # "median of >= 10 round trips" (issue #2)
MAX_PING_COUNT: Final = 1000
MAX_SAMPLE_INTERVAL_S: Final = 0.1  # bytes are sampled at <= 100 ms intervals
MIN_SAMPLE_INTERVAL_S: Final = 0.005

Phase = Literal["latency", "download", "upload", "done"]


@dataclass(frozen=True, slots=True)
class MeasurePlan:
    """What one ``probe measure`` run does; every field is validated on construction."""

    duration_s: float = DEFAULT_DURATION_S
    streams: int = DEFAULT_STREAMS
    directions: tuple[Direction, ...] = DEFAULT_DIRECTIONS
    ping_count: int = DEFAULT_PING_COUNT
    sample_interval_s: float = DEFAULT_SAMPLE_INTERVAL_S
    loaded_ping_interval_s: float = DEFAULT_LOADED_PING_INTERVAL_S
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S
    # Adaptive length (``--duration auto``): each direction stops once its rate is known to
    # the rule's tolerance (probe.engine.autostop); ``duration_s`` is then its ceiling.
    auto_duration: AutoDuration | None = None

    def __post_init__(self) -> None:
        if self.auto_duration is not None:
            object.__setattr__(self, "duration_s", self.auto_duration.ceiling_s)
        _check_range("duration", self.duration_s, MIN_DURATION_S, MAX_DURATION_S, "s")
        if isinstance(self.streams, bool) or not isinstance(self.streams, int):
            raise UsageError(f"streams must be a whole number, got {self.streams!r}")
        if not 1 <= self.streams <= MAX_STREAMS:
            raise UsageError(f"streams must be between 1 and {MAX_STREAMS}, got {self.streams}")
        if not self.directions:
            raise UsageError("at least one direction (down or up) must be measured")
        for direction in self.directions:
            if direction not in ("down", "up"):
                raise UsageError(f"direction must be 'down' or 'up', got {direction!r}")
        if len(set(self.directions)) != len(self.directions):
            raise UsageError(f"a direction is listed twice: {self.directions!r}")
        if isinstance(self.ping_count, bool) or not isinstance(self.ping_count, int):
            raise UsageError(f"ping count must be a whole number, got {self.ping_count!r}")
        if not MIN_PING_COUNT <= self.ping_count <= MAX_PING_COUNT:
            raise UsageError(
                f"ping count must be between {MIN_PING_COUNT} and {MAX_PING_COUNT}, "
                f"got {self.ping_count}"
            )
        _check_range(
            "sample interval", self.sample_interval_s,
            MIN_SAMPLE_INTERVAL_S, MAX_SAMPLE_INTERVAL_S, "s",
        )
        _check_range("loaded ping interval", self.loaded_ping_interval_s, 0.01, 5.0, "s")
        _check_range("connect timeout", self.connect_timeout_s, 0.1, 300.0, "s")

    def fixed_length(self) -> MeasurePlan:
        """This plan for an engine without the adaptive rule: ``auto`` runs the default
        fixed duration (other engines, docs/measurement.md "Adaptive length")."""
        if self.auto_duration is None:
            return self
        return dataclasses.replace(self, auto_duration=None, duration_s=DEFAULT_DURATION_S)

    @property
    def measures_download(self) -> bool:
        return "down" in self.directions

    @property
    def measures_upload(self) -> bool:
        return "up" in self.directions


@dataclass(frozen=True, slots=True)
class Progress:
    """A snapshot while a plan runs: which phase, how far into it, the rate seen lately.

    ``current_mbps`` is the rate over the last sample interval(s) as the client sees it; it is
    for display only (the reported figure comes from the steady-state window).
    """

    phase: Phase
    elapsed_s: float
    duration_s: float
    current_mbps: float | None = None

    @property
    def fraction(self) -> float:
        """How far through the phase, 0..1 (1 for phases without a fixed duration)."""
        if self.duration_s <= 0:
            return 1.0
        return min(1.0, max(0.0, self.elapsed_s / self.duration_s))


def directions_from_choice(choice: str) -> tuple[Direction, ...]:
    """Map the CLI's ``--direction down|up|both`` to plan directions."""
    if choice == "down":
        return ("down",)
    if choice == "up":
        return ("up",)
    if choice == "both":
        return ("down", "up")
    raise UsageError(f"direction must be down, up or both, got {choice!r}")


def _check_range(name: str, value: float, low: float, high: float, unit: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UsageError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value) or not low <= value <= high:
        raise UsageError(f"{name} must be between {low:g} and {high:g} {unit}, got {value!r}")
