"""How much CPU this process may use: its cgroup's CPU quota, throttling counters and affinity.

A router, a container or a systemd unit with ``CPUQuota=`` gives the client a fraction of one
core. Measured against one whole CPU, a client held to 10 % of a core never looks CPU-bound,
yet it is stopped for the rest of every period once its quota is spent. This module owns
reading that allowance for the current process, so the summary
(:mod:`probe.engine.summary`) can judge the run against it:

* cgroup v1: the ``cpu`` controller's line of ``/proc/self/cgroup`` names the group;
  ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` (-1: no quota) and ``cpu.stat``
  (``nr_periods``, ``nr_throttled``, ``throttled_time`` in ns);
* cgroup v2: the ``0::<path>`` line; ``cpu.max`` (``max 100000``: no quota) and ``cpu.stat``
  (``nr_periods``, ``nr_throttled``, ``throttled_usec``).

A quota on an ancestor group limits every group below it, so the path is walked up to the
hierarchy's root and the tightest quota wins; the throttling counters are that group's (the
kernel counts throttling where the quota ran out). Where the hierarchies are mounted comes
from ``/proc/self/mountinfo`` (a container's mount may start below the hierarchy's root),
else the usual places under ``/sys/fs/cgroup``. The CPUs the process may run on
(``os.sched_getaffinity``, else ``os.cpu_count``) cap the allowance too.

Without cgroups (macOS, Windows) the allowance is the CPUs the process may run on. In cgroups
whose cpu hierarchy it cannot see (``ip netns exec`` mounts a fresh ``/sys`` without them; a
container without ``/sys/fs/cgroup``) a quota may hold it unseen, so the reading is None
(unknown), as it is for anything unreadable: never an exception. The parsing functions take
text and the reader takes the root directory, so tests use a temporary tree.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Final

from probe.engine.summary import DirectionObservation

# Where the hierarchies usually are when /proc/self/mountinfo cannot be read.
V1_CPU_MOUNTS: Final = ("sys/fs/cgroup/cpu,cpuacct", "sys/fs/cgroup/cpu")
V2_MOUNT: Final = "sys/fs/cgroup"


@dataclass(frozen=True, slots=True)
class Throttling:
    """Cumulative CFS bandwidth counters of a group: enforcement periods in which it ran, in
    how many of them it spent its quota and was stopped, and for how long in total."""

    periods: int
    throttled_periods: int
    throttled_s: float


@dataclass(frozen=True, slots=True)
class CpuAllowance:
    """One reading. ``cpus``: the CPUs the process may use, the tighter of its quota and its
    affinity (None: neither known); ``quota_cpus``: the tightest quota on its group's path
    (None: no quota); ``throttling``: the counters of that group so far (None without one)."""

    cpus: float | None
    quota_cpus: float | None
    throttling: Throttling | None


@dataclass(frozen=True, slots=True)
class Mount:
    """A mounted cgroup hierarchy: where (absolute), which group it shows at that place, which
    version, and for v1 which controllers."""

    mount_point: str
    root: str
    version: int
    controllers: frozenset[str] = frozenset()


def parse_proc_cgroup(text: str) -> tuple[str | None, str | None]:
    """The group path of the v1 ``cpu`` controller and the v2 group path (None: none)."""
    v1: str | None = None
    v2: str | None = None
    for line in text.splitlines():
        hierarchy, _, rest = line.partition(":")
        controllers, sep, path = rest.partition(":")
        if not sep:
            continue
        if hierarchy == "0" and controllers == "":
            v2 = path
        elif "cpu" in controllers.split(","):
            v1 = path
    return v1, v2


_ESCAPE = re.compile(r"\\([0-7]{3})")


def _unescape(field: str) -> str:
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field)


def parse_mountinfo(text: str) -> list[Mount]:
    """The cgroup v1 and v2 mounts listed in ``/proc/self/mountinfo``."""
    mounts = []
    for line in text.splitlines():
        fields = line.split()
        if "-" not in fields[6:]:
            continue
        sep = fields.index("-", 6)
        if len(fields) < sep + 4:
            continue
        fstype, options = fields[sep + 1], fields[sep + 3].split(",")
        root, point = _unescape(fields[3]), _unescape(fields[4])
        if fstype == "cgroup2":
            mounts.append(Mount(point, root, 2))
        elif fstype == "cgroup":
            mounts.append(Mount(point, root, 1, frozenset(options)))
    return mounts


def parse_v1_quota(quota_text: str, period_text: str) -> float | None:
    """CPUs allowed by ``cpu.cfs_quota_us``/``cpu.cfs_period_us`` (None: -1, no quota)."""
    try:
        quota, period = int(quota_text.strip()), int(period_text.strip())
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def parse_cpu_max(text: str) -> float | None:
    """CPUs allowed by a v2 ``cpu.max`` (``"$MAX $PERIOD"``; ``max``: no quota)."""
    parts = text.split()
    if len(parts) != 2 or parts[0] == "max":
        return None
    return parse_v1_quota(parts[0], parts[1])


def parse_cpu_stat(text: str) -> Throttling | None:
    """The throttling counters of a v1 or v2 ``cpu.stat`` (None: it has none)."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        with contextlib.suppress(ValueError):
            values[key] = int(value)
    if "nr_periods" not in values or "nr_throttled" not in values:
        return None
    if "throttled_usec" in values:
        throttled_s = values["throttled_usec"] / 1e6
    elif "throttled_time" in values:
        throttled_s = values["throttled_time"] / 1e9
    else:
        return None
    return Throttling(values["nr_periods"], values["nr_throttled"], throttled_s)


def group_and_ancestors(path: str) -> list[str]:
    """``/a/b`` -> ``["/a/b", "/a", "/"]``: the group, then each parent up to the root."""
    pure = PurePosixPath("/", path.lstrip("/"))
    return [str(pure), *(str(parent) for parent in pure.parents)]


def read_allowance(root: Path = Path("/"), cpus_allowed: int | None = None) -> CpuAllowance | None:
    """The current process's allowance as seen under ``root`` (``/`` but in tests).

    None when it cannot be known: the process is in cgroups (``/proc/self/cgroup`` exists)
    but no cpu hierarchy is mounted where it can see it (``ip netns exec``, a container
    without ``/sys/fs/cgroup``), so a quota may hold it that it cannot read; or nothing at all
    is known. Without cgroups (macOS, Windows) the CPUs it may run on are its allowance.
    ``cpus_allowed`` defaults to :func:`allowed_cpus`.
    """
    try:
        cpus = allowed_cpus() if cpus_allowed is None else cpus_allowed
        own = _read(root / "proc/self/cgroup")
        seen = (None, None) if own is None else _read_quota(root, own)
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if seen is None:
        return None
    quota_cpus, throttling = seen
    known = [c for c in (quota_cpus, None if cpus is None else float(cpus)) if c is not None]
    if not known:
        return None
    return CpuAllowance(min(known), quota_cpus, throttling)


def allowed_cpus() -> int | None:
    """How many CPUs the process may run on (None: unknown)."""
    getaffinity = getattr(os, "sched_getaffinity", None)
    if getaffinity is not None:
        with contextlib.suppress(OSError):
            return len(getaffinity(0))
    return os.cpu_count()


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError):
        return None


def _read_quota(root: Path, own: str) -> tuple[float | None, Throttling | None] | None:
    """The tightest quota on the process's group path (None: none) and its group's counters;
    None if no cpu hierarchy of the process's groups is reachable."""
    v1_path, v2_path = parse_proc_cgroup(own)
    info = _read(root / "proc/self/mountinfo")
    mounts = parse_mountinfo(info) if info is not None else [
        *(Mount(f"/{p}", "/", 1, frozenset({"cpu"})) for p in V1_CPU_MOUNTS),
        Mount(f"/{V2_MOUNT}", "/", 2)]
    # v1 first: on a hybrid system the cpu controller is in v1, and the v2 groups have no
    # cpu.max.
    for version, path in ((1, v1_path), (2, v2_path)):
        if path is None:
            continue
        for mount in mounts:
            if mount.version == version and (version == 2 or "cpu" in mount.controllers):
                directory = root / mount.mount_point.lstrip("/")
                if directory.is_dir():
                    return _tightest(directory, _below(path, mount.root), version) \
                        or (None, None)
    return None


def _below(path: str, mount_root: str) -> str:
    """The group's path inside a mount that shows the hierarchy from ``mount_root`` down."""
    pure, base = PurePosixPath("/", path.lstrip("/")), PurePosixPath("/", mount_root.lstrip("/"))
    return str(PurePosixPath("/", pure.relative_to(base))) if pure.is_relative_to(base) else path


def _tightest(mount: Path, path: str, version: int) -> tuple[float, Throttling | None] | None:
    best: tuple[float, Throttling | None] | None = None
    for group in group_and_ancestors(path):
        directory = mount / group.lstrip("/")
        if version == 1:
            quota_text = _read(directory / "cpu.cfs_quota_us")
            period_text = _read(directory / "cpu.cfs_period_us")
            cpus = (None if quota_text is None or period_text is None
                    else parse_v1_quota(quota_text, period_text))
        else:
            max_text = _read(directory / "cpu.max")
            cpus = None if max_text is None else parse_cpu_max(max_text)
        if cpus is not None and (best is None or cpus < best[0]):
            stat = _read(directory / "cpu.stat")
            best = (cpus, None if stat is None else parse_cpu_stat(stat))
    return best


@dataclass(frozen=True, slots=True)
class CpuSeen:
    """The allowance during one transfer and the throttling between two readings (None:
    unknown, or no quota)."""

    allowance_cpus: float | None
    periods: int | None
    throttled_periods: int | None
    throttled_s: float | None


def between(before: CpuAllowance | None, after: CpuAllowance | None) -> CpuSeen:
    """What happened between two readings: the tighter allowance seen, and the throttling
    counters' growth (None if either reading lacks them or they went backwards, e.g. the
    process moved to another group)."""
    readings: Sequence[CpuAllowance] = [r for r in (before, after) if r is not None]
    cpus = [r.cpus for r in readings if r.cpus is not None]
    allowance = min(cpus) if cpus else None
    if before is None or after is None or before.throttling is None or after.throttling is None:
        return CpuSeen(allowance, None, None, None)
    b, a = before.throttling, after.throttling
    periods, throttled = a.periods - b.periods, a.throttled_periods - b.throttled_periods
    if periods < 0 or throttled < 0 or a.throttled_s < b.throttled_s:
        return CpuSeen(allowance, None, None, None)
    return CpuSeen(allowance, periods, throttled, a.throttled_s - b.throttled_s)


def annotate(obs: DirectionObservation, before: CpuAllowance | None) -> DirectionObservation:
    """``obs`` with the allowance and throttling from ``before`` (taken when the direction
    started) to now."""
    seen = between(before, read_allowance())
    return dataclasses.replace(
        obs, cpu_allowance=seen.allowance_cpus, cpu_periods=seen.periods,
        cpu_throttled_periods=seen.throttled_periods, cpu_throttled_s=seen.throttled_s)
