"""Cross-traffic and CPU gating: whether the line is quiet enough to measure now (sans-I/O).

SamKnows-style gating, open: before each scheduled test the agent reads the WAN interface's
byte counters over a short window (and the CPU's busy share). If the home is using the line
(cross-traffic above ``threshold_kbps``, 64 kbit/s by default) or the CPU is busy, the test is
deferred with exponential backoff; once it has been held back for ``max_defer_s`` it is skipped
with the reason recorded, and the scheduler plans the next one. During the test itself the
counters are read again, and whatever the interface carried beyond the test's own traffic is
recorded on the record (``cross_traffic_kbps``, flag ``cross_traffic``), so a check never calls
a shortfall on a test the home was competing with.

Nothing here reads a counter or a clock: samples and times arrive as values
(:mod:`probe.hostfacts.counters` takes them). The FCC/SamKnows thresholds are 25,000 B/s of
combined cross-traffic and 30 % CPU (docs/agent-gating.md); ours is stricter on traffic by
default because a home router's line is often slower than a US panel's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import pairwise
from typing import Literal

from probe.errors import ConfigError
from probe.hostload import CounterSample, CpuSample
from probe.measurement import Measurement

FLAG_CROSS_TRAFFIC = "cross_traffic"
DEFAULT_THRESHOLD_KBPS = 64.0
DEFAULT_WINDOW_S = 5.0
DEFAULT_CPU_LOAD_MAX = 0.30
DEFAULT_BACKOFF_S = 60.0
DEFAULT_BACKOFF_FACTOR = 2.0
DEFAULT_BACKOFF_MAX_S = 900.0
DEFAULT_MAX_DEFER_S = 1800.0
# During a test the interface also carries the test's own framing and ACKs, which the record's
# payload bytes do not count: 1514/1448 on the data path plus ~66 B of ACK per two segments.
OWN_WIRE_PER_PAYLOAD = 1514 / 1448 + 66 / (2 * 1448)
# Payload accounting is not exact (retransmits, handshakes, pings), so traffic beyond the test's
# own is only called cross-traffic above this share of the test's own rate (or the threshold).
DEFAULT_DURING_TOLERANCE = 0.05

Action = Literal["go", "defer", "skip"]


@dataclass(frozen=True, slots=True)
class GatingPolicy:
    """When a test may start. ``cpu_load_max`` is the busy share of all CPUs (0..1), None off."""

    threshold_kbps: float = DEFAULT_THRESHOLD_KBPS
    window_s: float = DEFAULT_WINDOW_S
    cpu_load_max: float | None = DEFAULT_CPU_LOAD_MAX
    backoff_s: float = DEFAULT_BACKOFF_S
    backoff_factor: float = DEFAULT_BACKOFF_FACTOR
    backoff_max_s: float = DEFAULT_BACKOFF_MAX_S
    max_defer_s: float = DEFAULT_MAX_DEFER_S
    during_tolerance: float = DEFAULT_DURING_TOLERANCE

    def __post_init__(self) -> None:
        for name in ("threshold_kbps", "window_s", "backoff_s", "backoff_max_s", "max_defer_s",
                     "during_tolerance"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ConfigError(f"gating.{name}: must be a finite number >= 0, got {value!r}")
        if self.window_s <= 0:
            raise ConfigError("gating.window_s: must be > 0")
        if self.backoff_factor < 1:
            raise ConfigError("gating.backoff_factor: must be >= 1")
        if self.cpu_load_max is not None and not 0 < self.cpu_load_max <= 1:
            raise ConfigError("gating.cpu_load_max: must be a share in (0, 1], e.g. 0.3")


@dataclass(frozen=True, slots=True)
class Deferral:
    """How long the current scheduled test has been held back: count and first time (s)."""

    count: int = 0
    since_s: float | None = None


@dataclass(frozen=True, slots=True)
class GateDecision:
    """What to do with a scheduled test, and what was seen. ``retry_in_s`` only for defer."""

    action: Action
    reason: str
    cross_traffic_kbps: float | None
    cpu_load: float | None
    deferral: Deferral
    retry_in_s: float | None = None

    def to_json_dict(self) -> dict[str, object]:
        return {"action": self.action, "reason": self.reason,
                "cross_traffic_kbps": self.cross_traffic_kbps, "cpu_load": self.cpu_load,
                "deferrals": self.deferral.count, "retry_in_s": self.retry_in_s}


def traffic_kbps(samples: Sequence[CounterSample]) -> float | None:
    """Mean combined rx+tx rate over the samples, kbit/s (10^3 bit/s on the wire).

    None when it cannot be known: fewer than two samples, no time between them, or a counter
    that went backwards (interface reset, 32-bit wrap) — never a made-up zero.
    """
    if len(samples) < 2:
        return None
    for a, b in pairwise(samples):
        if b.t_s <= a.t_s or b.rx_bytes < a.rx_bytes or b.tx_bytes < a.tx_bytes:
            return None
    first, last = samples[0], samples[-1]
    moved = (last.rx_bytes - first.rx_bytes) + (last.tx_bytes - first.tx_bytes)
    return moved * 8 / (last.t_s - first.t_s) / 1e3


def cpu_load(before: CpuSample | None, after: CpuSample | None) -> float | None:
    """Busy share of all CPUs between two samples (0..1); None when unknown."""
    if before is None or after is None:
        return None
    total = after.total - before.total
    busy = after.busy - before.busy
    if total <= 0 or busy < 0:
        return None
    return min(1.0, busy / total)


def decide(
    samples: Sequence[CounterSample],
    cpu: tuple[CpuSample, CpuSample] | None,
    policy: GatingPolicy,
    deferral: Deferral,
    now_s: float,
) -> GateDecision:
    """Go, defer (with the backoff to wait) or skip the scheduled test.

    ``deferral`` is what the previous decisions for this same scheduled test returned (a fresh
    ``Deferral()`` for a new one); ``now_s`` is on the samples' monotonic time base.
    """
    rate = traffic_kbps(samples)
    load = None if cpu is None else cpu_load(*cpu)
    problems = []
    if rate is None:
        problems.append("interface counters unreadable or went backwards")
    elif rate > policy.threshold_kbps:
        problems.append(f"cross-traffic {rate:.0f} kbit/s above {policy.threshold_kbps:g} kbit/s")
    if policy.cpu_load_max is not None and load is not None and load > policy.cpu_load_max:
        problems.append(f"CPU load {load:.0%} above {policy.cpu_load_max:.0%}")
    if not problems:
        return GateDecision("go", "", rate, load, deferral)
    since = now_s if deferral.since_s is None else deferral.since_s
    waited_s = now_s - since
    retry_in_s = min(policy.backoff_s * policy.backoff_factor ** deferral.count,
                     policy.backoff_max_s)
    held = Deferral(deferral.count + 1, since)
    reason = "; ".join(problems)
    if waited_s + retry_in_s > policy.max_defer_s:
        return GateDecision(
            "skip", f"{reason} (held back {deferral.count + 1} times over {waited_s:.0f} s)",
            rate, load, held)
    return GateDecision("defer", reason, rate, load, held, retry_in_s)


def cross_traffic_during(
    before: CounterSample, after: CounterSample, measurement: Measurement,
    policy: GatingPolicy,
) -> tuple[float | None, bool]:
    """Traffic the interface carried during a test beyond the test's own, kbit/s, and whether
    it is enough to flag the record (above the threshold and the payload-accounting tolerance).

    The test's own wire bytes are its payload bytes (both directions) times the framing and ACK
    overhead; a negative remainder (the model over-estimated) reads as zero.
    """
    seconds = after.t_s - before.t_s
    if seconds <= 0 or after.rx_bytes < before.rx_bytes or after.tx_bytes < before.tx_bytes:
        return None, False
    moved = (after.rx_bytes - before.rx_bytes) + (after.tx_bytes - before.tx_bytes)
    own_payload = sum(d.transferred_bytes for d in (measurement.download, measurement.upload)
                      if d is not None)
    own_wire = own_payload * OWN_WIRE_PER_PAYLOAD
    extra_kbps = max(0.0, moved - own_wire) * 8 / seconds / 1e3
    own_kbps = own_wire * 8 / seconds / 1e3
    bar_kbps = max(policy.threshold_kbps, policy.during_tolerance * own_kbps)
    return extra_kbps, extra_kbps > bar_kbps


def annotate(
    measurement: Measurement, before: CounterSample, after: CounterSample, policy: GatingPolicy
) -> Measurement:
    """The record with the cross-traffic seen during it, flagged when it may have mattered."""
    extra_kbps, flagged = cross_traffic_during(before, after, measurement, policy)
    flags = measurement.flags
    if flagged and FLAG_CROSS_TRAFFIC not in flags:
        flags = (*flags, FLAG_CROSS_TRAFFIC)
    rounded = None if extra_kbps is None else round(extra_kbps, 1)
    return replace(measurement, flags=flags, cross_traffic_kbps=rounded)
