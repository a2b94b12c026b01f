"""The running agent's footprint: resident memory after its first test, CPU and wake-ups between
tests — unthrottled and under a cgroup v1 CPU quota (a router's CPU is a fraction of this one).

Starts a real `probe serve` and VictoriaMetrics on loopback, runs `probe agent` with a one-hour
schedule (so after its first test it only waits), lets the test and the forward finish, then
watches the idle process for ``--idle`` seconds:

- RSS: VmRSS and VmHWM from /proc/PID/status;
- CPU: utime+stime of all threads from /proc/PID/stat, over the idle window;
- wake-ups: voluntary + involuntary context switches summed over /proc/PID/task/*/status
  (each time a thread was put back on a CPU), over the idle window.

    sudo .venv/bin/python benchmarks/bench_agent_footprint.py [--idle 60] [--quota 0.25]

--quota Q also runs the agent inside a cgroup v1 cpu controller group with
cpu.cfs_quota_us = Q x cpu.cfs_period_us (root needed; skipped where /sys/fs/cgroup/cpu is
not a v1 hierarchy).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.agent.configkit import agent_config  # noqa: E402
from tests.servicekit import VictoriaMetrics  # noqa: E402
from tests.support import serve_process  # noqa: E402

CGROUP_CPU = Path("/sys/fs/cgroup/cpu")
TICKS = os.sysconf("SC_CLK_TCK")


def _config(tmp: Path, server: str, vm: str, probe_id: str) -> Path:
    # One-hour schedule: after its first test the agent only waits. Gating off: its 5 s
    # window would otherwise be part of the first test, and the idle figures are the point.
    sink = f'[sink]\nurl = "{vm}"\nkind = "victoriametrics"\n[metrics]\nlisten = "127.0.0.1:0"\n'
    return agent_config(tmp, [server, server], probe_id=probe_id, interval_min=60, extra=sink)


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)


def _switches(pid: int) -> int:
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            for line in (task / "status").read_text().splitlines():
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    total += int(line.split()[1])
        except OSError:
            continue  # a thread that ended meanwhile
    return total


def _status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def _threads(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/task").iterdir()))


def _enter_cgroup(pid: int, quota: float, stack: ExitStack) -> str | None:
    if not (CGROUP_CPU / "cpu.cfs_quota_us").exists():
        return None
    group = CGROUP_CPU / f"probe-agent-bench-{os.getpid()}"
    group.mkdir()
    period = int((group / "cpu.cfs_period_us").read_text())
    (group / "cpu.cfs_quota_us").write_text(str(int(quota * period)))
    (group / "cgroup.procs").write_text(str(pid))

    def leave() -> None:
        # Move anything left back to the root group, then remove ours.
        for line in (group / "cgroup.procs").read_text().split():
            (CGROUP_CPU / "cgroup.procs").write_text(line)
        group.rmdir()

    stack.callback(leave)
    return f"{group.name}: cfs_quota_us={int(quota * period)} cfs_period_us={period}"


def run_once(server: str, vm: VictoriaMetrics, idle_s: float,
             quota: float | None) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmpdir, ExitStack() as stack:
        tmp = Path(tmpdir)
        config = _config(tmp, server, vm.url, f"bench-{int(time.time())}")
        proc = subprocess.Popen(
            [sys.executable, "-m", "probe", "agent", "--config", str(config)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        stack.callback(lambda: (proc.terminate(), proc.wait(timeout=20)))
        cgroup = _enter_cgroup(proc.pid, quota, stack) if quota else None
        assert proc.stdout is not None
        events = []
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"agent ended: {proc.stderr.read() if proc.stderr else ''}")
            event = json.loads(line)
            events.append(event["event"])
            if event["event"] == "next test" and "test stored" in events:
                break
        time.sleep(2.0)  # let the forward's threads finish and the loop settle
        rss_kb, hwm_kb = _status_kb(proc.pid, "VmRSS"), _status_kb(proc.pid, "VmHWM")
        cpu0, sw0, t0 = _cpu_ticks(proc.pid), _switches(proc.pid), time.monotonic()
        time.sleep(idle_s)
        cpu1, sw1, t1 = _cpu_ticks(proc.pid), _switches(proc.pid), time.monotonic()
        modules = "forwarded" in events
        return {
            "quota": quota, "cgroup": cgroup, "idle_s": round(t1 - t0, 1),
            "rss_mib": round(rss_kb / 1024, 1), "peak_rss_mib": round(hwm_kb / 1024, 1),
            "threads": _threads(proc.pid),
            "idle_cpu_ms": round((cpu1 - cpu0) * 1000 / TICKS, 1),
            "idle_wakeups": sw1 - sw0,
            "idle_wakeups_per_min": round((sw1 - sw0) / (t1 - t0) * 60, 2),
            "forwarded": modules,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--idle", type=float, default=60.0, help="idle window, seconds")
    parser.add_argument("--quota", type=float, default=0.25,
                        help="CPU share for the cgroup run (0 to skip)")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    print(f"# bench_agent_footprint {datetime.now(UTC).isoformat(timespec='seconds')} "
          f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as vmdir, serve_process() as server:
        vm = VictoriaMetrics(Path(vmdir))
        vm.start()
        try:
            for _ in range(args.rounds):
                for quota in ([None, args.quota] if args.quota else [None]):
                    print(json.dumps(run_once(server, vm, args.idle, quota)), flush=True)
        finally:
            vm.stop()


if __name__ == "__main__":
    main()
