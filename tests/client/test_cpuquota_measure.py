"""``probe measure`` held to 10 % of a core by a real cgroup v1 CPU quota is flagged, with why.

The run is the real command line against a real ``probe serve`` on loopback; the quota is the
kernel's (``cpu.cfs_quota_us``), the same group the CPU-quota benchmark uses
(:mod:`benchmarks.cpuquota`). Needs root and a cgroup v1 ``cpu`` hierarchy; skips otherwise.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from benchmarks.cpuquota import available, cpu_quota, group_path, throttled
from tests.support import ROOT, serve_process

pytestmark = pytest.mark.slow

QUOTA_CPUS = 0.1
# ``python -m probe measure``, but the process joins the group (argv[1], if any) only once its
# modules are imported: start-up at 10 % of a core takes ~4 s that the test does not need
# (an agent on a router imports once), and the measurement runs under the quota all the same.
CHILD = """
import importlib, os, sys
from probe.cli.main import COMMAND_MODULES, main
for name in (*COMMAND_MODULES, "asyncio", "probe.backends", "probe.client.runner"):
    importlib.import_module(name)
if sys.argv[1]:
    with open(sys.argv[1], "w") as procs:
        procs.write(str(os.getpid()))
raise SystemExit(main(sys.argv[2:]))
"""


def measure(group_procs: str, url: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, group_procs, "measure", "--server", url, "--json",
         "--no-store", "--duration", "3"],
        capture_output=True, text=True, timeout=60, cwd=ROOT, check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    record: dict[str, Any] = json.loads(proc.stdout)
    return record


@pytest.fixture
def quota_tag() -> str:
    if os.geteuid() != 0 or not available():
        pytest.skip("needs root and a cgroup v1 cpu hierarchy")
    return f"test-{os.getpid()}"


def test_quota_run_is_flagged_with_its_allowance_and_throttling(quota_tag: str) -> None:
    with serve_process() as url:
        with cpu_quota(QUOTA_CPUS, quota_tag):
            limited = measure(str(group_path(quota_tag) / "cgroup.procs"), url)
            group_throttled = throttled(QUOTA_CPUS, quota_tag)
        assert not group_path(quota_tag).exists()  # removed again
        free = measure("", url)

    assert "client_cpu_limited" in limited["flags"]
    assert group_throttled is not None
    assert group_throttled[0] > 0
    for name in ("download", "upload"):
        details = limited[name]
        assert details["cpu_allowance"] == pytest.approx(QUOTA_CPUS)
        # The group ran in ~30 periods of 100 ms per 3 s direction and spent its quota in
        # most: the client is stopped 90 ms of each 100.
        assert details["cpu_periods"] >= 20
        assert details["cpu_throttled_periods"] >= 0.5 * details["cpu_periods"]
        assert details["cpu_throttled_s"] > 1.0
        assert details["client_cpu_s"] / details["elapsed_s"] <= 1.5 * QUOTA_CPUS

    # Unthrottled the client may still be CPU-bound on loopback (it has one CPU for its
    # Python); if so the flag is raised for that reason, never for a quota it does not have.
    for name in ("download", "upload"):
        details = free[name]
        assert details["cpu_allowance"] >= 1.0
        assert (details["cpu_periods"], details["cpu_throttled_periods"],
                details["cpu_throttled_s"]) == (None, None, None)
    share = max(free[name]["client_cpu_s"] / free[name]["elapsed_s"]
                for name in ("download", "upload"))
    assert ("client_cpu_limited" in free["flags"]) is (share >= 0.9)
