"""Reading the CPU allowance of the process's cgroup: parsing and file trees (v1, v2, nested)."""

from __future__ import annotations

from pathlib import Path

import pytest

from probe.client import cpuquota
from probe.client.cpuquota import CpuAllowance, CpuSeen, Mount, Throttling
from probe.engine.summary import DirectionObservation
from probe.measurement import Sample

# This machine's (hybrid: cpu in v1, an empty v2 beside it) and a v2-only container's.
HYBRID_CGROUP = "9:name=systemd:/\n2:cpuacct:/\n1:cpu:/router\n0::/\n"
V1_JOINED_CGROUP = "4:cpu,cpuacct:/system.slice/probe.service\n3:memory:/x\n"
V2_CGROUP = "0::/system.slice/probe.service\n"

V1_STAT = "nr_periods 40\nnr_throttled 30\nthrottled_time 2500000000\nnr_bursts 0\nburst_time 0\n"
V2_STAT = ("usage_usec 812000\nuser_usec 500000\nsystem_usec 312000\nnr_periods 50\n"
           "nr_throttled 45\nthrottled_usec 3900000\nnr_bursts 0\nburst_usec 0\n")
MOUNTINFO = (
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw\n"
    "42 23 0:39 / /mnt/with\\040space rw - cgroup2 cgroup2 rw\n"
)


def tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


class TestParsing:
    def test_proc_cgroup_hybrid_v1_joined_and_v2(self) -> None:
        assert cpuquota.parse_proc_cgroup(HYBRID_CGROUP) == ("/router", "/")
        assert cpuquota.parse_proc_cgroup(V1_JOINED_CGROUP) == (
            "/system.slice/probe.service", None)
        assert cpuquota.parse_proc_cgroup(V2_CGROUP) == (None, "/system.slice/probe.service")
        assert cpuquota.parse_proc_cgroup("") == (None, None)
        assert cpuquota.parse_proc_cgroup("garbage\n1:cpuacct:/a\n") == (None, None)

    def test_mountinfo_lists_cgroup_mounts_with_controllers(self) -> None:
        mounts = cpuquota.parse_mountinfo(MOUNTINFO + "short line\n")
        assert Mount("/sys/fs/cgroup/cpu", "/", 1, frozenset({"rw", "cpu"})) in mounts
        assert Mount("/sys/fs/cgroup/unified", "/", 2) in mounts  # optional field skipped
        assert Mount("/mnt/with space", "/", 2) in mounts  # octal escapes decoded
        assert all(m.mount_point != "/sys/fs/cgroup" for m in mounts)  # the tmpfs is not one
        assert len(mounts) == 5

    @pytest.mark.parametrize(("quota", "period", "cpus"), [
        ("10000\n", "100000\n", 0.1), ("250000", "100000", 2.5), ("-1", "100000", None),
        ("0", "100000", None), ("x", "100000", None), ("10000", "0", None),
    ])
    def test_v1_quota(self, quota: str, period: str, cpus: float | None) -> None:
        assert cpuquota.parse_v1_quota(quota, period) == cpus

    @pytest.mark.parametrize(("text", "cpus"), [
        ("10000 100000\n", 0.1), ("max 100000\n", None), ("max\n", None), ("", None),
        ("50000 100000 extra", None),
    ])
    def test_v2_cpu_max(self, text: str, cpus: float | None) -> None:
        assert cpuquota.parse_cpu_max(text) == cpus

    def test_cpu_stat_v1_ns_and_v2_usec(self) -> None:
        assert cpuquota.parse_cpu_stat(V1_STAT) == Throttling(40, 30, 2.5)
        assert cpuquota.parse_cpu_stat(V2_STAT) == Throttling(50, 45, 3.9)

    def test_cpu_stat_without_bandwidth_counters(self) -> None:
        # v2 without the cpu controller enabled has only the usage lines.
        assert cpuquota.parse_cpu_stat("usage_usec 1\nuser_usec 1\nsystem_usec 0\n") is None
        assert cpuquota.parse_cpu_stat("nr_periods 1\nnr_throttled 0\n") is None
        assert cpuquota.parse_cpu_stat("") is None

    def test_group_and_ancestors(self) -> None:
        assert cpuquota.group_and_ancestors("/a/b") == ["/a/b", "/a", "/"]
        assert cpuquota.group_and_ancestors("/") == ["/"]


class TestReadingTrees:
    """``read_allowance`` over a temporary root laid out like /proc and /sys/fs/cgroup."""

    def test_v1_quota_on_the_group(self, tmp_path: Path) -> None:
        root = tree(tmp_path, {
            "proc/self/cgroup": HYBRID_CGROUP,
            "proc/self/mountinfo": MOUNTINFO,
            "sys/fs/cgroup/cpu/cpu.cfs_quota_us": "-1\n",
            "sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000\n",
            "sys/fs/cgroup/cpu/cpu.stat": "nr_periods 0\nnr_throttled 0\nthrottled_time 0\n",
            "sys/fs/cgroup/cpu/router/cpu.cfs_quota_us": "10000\n",
            "sys/fs/cgroup/cpu/router/cpu.cfs_period_us": "100000\n",
            "sys/fs/cgroup/cpu/router/cpu.stat": V1_STAT,
        })
        assert cpuquota.read_allowance(root, cpus_allowed=2) == CpuAllowance(
            0.1, 0.1, Throttling(40, 30, 2.5))

    def test_v1_joined_controllers_without_mountinfo(self, tmp_path: Path) -> None:
        # No mountinfo: the usual place, cpu,cpuacct joined.
        group = "sys/fs/cgroup/cpu,cpuacct/system.slice/probe.service"
        root = tree(tmp_path, {
            "proc/self/cgroup": V1_JOINED_CGROUP,
            f"{group}/cpu.cfs_quota_us": "25000", f"{group}/cpu.cfs_period_us": "100000",
            f"{group}/cpu.stat": V1_STAT,
        })
        allowance = cpuquota.read_allowance(root, cpus_allowed=4)
        assert allowance == CpuAllowance(0.25, 0.25, Throttling(40, 30, 2.5))

    def test_v1_no_quota_leaves_the_cpus_it_may_run_on(self, tmp_path: Path) -> None:
        root = tree(tmp_path, {
            "proc/self/cgroup": HYBRID_CGROUP, "proc/self/mountinfo": MOUNTINFO,
            "sys/fs/cgroup/cpu/router/cpu.cfs_quota_us": "-1",
            "sys/fs/cgroup/cpu/router/cpu.cfs_period_us": "100000",
            # The v2 beside it must not be read: the cpu controller is in v1.
            "sys/fs/cgroup/unified/cpu.max": "10000 100000",
        })
        assert cpuquota.read_allowance(root, cpus_allowed=2) == CpuAllowance(2.0, None, None)

    def test_v2_quota_on_an_ancestor_limits_and_the_tightest_wins(self, tmp_path: Path) -> None:
        base = "sys/fs/cgroup"
        root = tree(tmp_path, {
            "proc/self/cgroup": V2_CGROUP,
            f"{base}/cpu.stat": "usage_usec 5\n",  # the root group has no cpu.max
            f"{base}/system.slice/cpu.max": "30000 100000\n",
            f"{base}/system.slice/cpu.stat": V2_STAT,
            f"{base}/system.slice/probe.service/cpu.max": "max 100000\n",
            f"{base}/system.slice/probe.service/cpu.stat": "nr_periods 0\nnr_throttled 0\n"
                                                           "throttled_usec 0\n",
        })
        assert cpuquota.read_allowance(root, cpus_allowed=8) == CpuAllowance(
            0.3, 0.3, Throttling(50, 45, 3.9))
        # A tighter quota below the ancestor's wins, with its own counters.
        tree(tmp_path, {f"{base}/system.slice/probe.service/cpu.max": "5000 50000\n"})
        assert cpuquota.read_allowance(root, cpus_allowed=8) == CpuAllowance(
            0.1, 0.1, Throttling(0, 0, 0.0))

    def test_v2_quota_above_the_affinity_leaves_the_affinity(self, tmp_path: Path) -> None:
        root = tree(tmp_path, {"proc/self/cgroup": "0::/\n",
                               "sys/fs/cgroup/cpu.max": "400000 100000\n"})
        assert cpuquota.read_allowance(root, cpus_allowed=2) == CpuAllowance(2.0, 4.0, None)

    def test_container_mount_starts_below_the_hierarchy_root(self, tmp_path: Path) -> None:
        # Without a cgroup namespace a container sees its host path in /proc/self/cgroup,
        # but its mount shows the hierarchy from that group down.
        root = tree(tmp_path, {
            "proc/self/cgroup": "0::/docker/abc\n",
            "proc/self/mountinfo": "50 40 0:40 /docker/abc /sys/fs/cgroup ro - cgroup2 x rw\n",
            "sys/fs/cgroup/cpu.max": "50000 100000\n",
            "sys/fs/cgroup/cpu.stat": V2_STAT,
        })
        assert cpuquota.read_allowance(root, cpus_allowed=2) == CpuAllowance(
            0.5, 0.5, Throttling(50, 45, 3.9))

    def test_missing_files_are_none_or_the_affinity_never_an_error(self, tmp_path: Path) -> None:
        # No /proc/self/cgroup (macOS, Windows): no cgroups, the CPUs are the allowance.
        assert cpuquota.read_allowance(tmp_path, cpus_allowed=2) == CpuAllowance(2.0, None, None)
        tree(tmp_path, {"proc/self/cgroup": HYBRID_CGROUP, "proc/self/mountinfo": MOUNTINFO})
        # In cgroups, but their mounts are not reachable (``ip netns exec`` remounts /sys): a
        # quota may hold the process that it cannot read, so the allowance is unknown.
        assert cpuquota.read_allowance(tmp_path, cpus_allowed=2) is None
        tree(tmp_path, {"proc/self/mountinfo": ""})  # no cgroup mount at all: the same
        assert cpuquota.read_allowance(tmp_path, cpus_allowed=2) is None
        tree(tmp_path, {"proc/self/mountinfo": MOUNTINFO})
        tree(tmp_path, {"sys/fs/cgroup/cpu/router/cpu.cfs_quota_us": "10000"})  # no period
        assert cpuquota.read_allowance(tmp_path, cpus_allowed=2) == CpuAllowance(2.0, None, None)
        tree(tmp_path, {"sys/fs/cgroup/cpu/router/cpu.cfs_period_us": "100000"})  # no cpu.stat
        assert cpuquota.read_allowance(tmp_path, cpus_allowed=2) == CpuAllowance(0.1, 0.1, None)

    def test_nothing_known_is_none(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(cpuquota, "allowed_cpus", lambda: None)
        assert cpuquota.read_allowance(tmp_path) is None
        (tmp_path / "proc").write_bytes(b"\xff")  # not a directory: still no exception
        assert cpuquota.read_allowance(tmp_path) is None

    def test_this_machine_reads_without_error(self) -> None:
        allowance = cpuquota.read_allowance()
        assert allowance is None or (allowance.cpus is not None and allowance.cpus > 0)


class TestBetween:
    def test_counters_grow_over_the_direction(self) -> None:
        before = CpuAllowance(0.1, 0.1, Throttling(40, 30, 2.5))
        after = CpuAllowance(0.1, 0.1, Throttling(70, 58, 5.25))
        assert cpuquota.between(before, after) == CpuSeen(0.1, 30, 28, pytest.approx(2.75))

    def test_unknown_or_backwards_counters_are_none(self) -> None:
        quota = CpuAllowance(0.1, 0.1, Throttling(40, 30, 2.5))
        assert cpuquota.between(None, None) == CpuSeen(None, None, None, None)
        assert cpuquota.between(None, quota) == CpuSeen(0.1, None, None, None)
        assert cpuquota.between(CpuAllowance(2.0, None, None), quota) == CpuSeen(
            0.1, None, None, None)
        moved = CpuAllowance(0.1, 0.1, Throttling(5, 1, 0.1))
        assert cpuquota.between(quota, moved) == CpuSeen(0.1, None, None, None)

    def test_annotate_fills_the_observation(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(cpuquota, "read_allowance",
                            lambda: CpuAllowance(0.1, 0.1, Throttling(70, 58, 5.5)))
        obs = DirectionObservation(samples=(Sample(0.0, 0),), streams_started=1,
                                   streams_completed=1, client_cpu_s=0.3, elapsed_s=3.0)
        seen = cpuquota.annotate(obs, CpuAllowance(0.1, 0.1, Throttling(40, 30, 2.5)))
        assert (seen.cpu_allowance, seen.cpu_periods, seen.cpu_throttled_periods,
                seen.cpu_throttled_s) == (0.1, 30, 28, 3.0)
        assert seen.client_cpu_s == 0.3
