"""A cgroup v1 CPU group that holds a benchmark's client to a fraction of one core.

A home router's CPU is a fraction of this machine's core; ``cpu.cfs_quota_us`` /
``cpu.cfs_period_us`` of the group is that fraction. ``ip netns exec`` remounts /sys, so a
command joins the group *before* it enters a namespace: :func:`cpu_quota` yields the argv
prefix (``sh`` writes its own pid into the group, then execs the command; children inherit it).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

CGROUP_CPU = Path("/sys/fs/cgroup/cpu")
PERIOD_US = 100_000


def available() -> bool:
    return (CGROUP_CPU / "cpu.cfs_quota_us").exists()


def group_path(tag: str) -> Path:
    """The group :func:`cpu_quota` creates for ``tag``."""
    return CGROUP_CPU / f"probe-bench-{tag}"


@contextlib.contextmanager
def cpu_quota(quota: float | None, tag: str) -> Iterator[list[str]]:
    """The argv prefix that runs a command with ``quota`` CPUs (``[]`` for none)."""
    if quota is None:
        yield []
        return
    if not available():
        raise SystemExit(f"no cgroup v1 cpu controller at {CGROUP_CPU}: cannot apply a quota")
    group = group_path(tag)
    group.mkdir(exist_ok=True)
    (group / "cpu.cfs_period_us").write_text(str(PERIOD_US))
    (group / "cpu.cfs_quota_us").write_text(str(int(quota * PERIOD_US)))
    try:
        yield ["sh", "-c", f'echo $$ > {group}/cgroup.procs && exec "$@"', "sh"]
    finally:
        # Anything still inside goes back to the root group, then the group is removed.
        with contextlib.suppress(OSError):
            for pid in (group / "cgroup.procs").read_text().split():
                (CGROUP_CPU / "cgroup.procs").write_text(pid)
            group.rmdir()


def throttled(quota: float | None, tag: str) -> tuple[int, int] | None:
    """``(nr_throttled, throttled_time_ns)`` of the group so far, or None without one."""
    if quota is None:
        return None
    stat = group_path(tag) / "cpu.stat"
    values = dict(line.split() for line in stat.read_text().splitlines())
    return int(values["nr_throttled"]), int(values["throttled_time"])
