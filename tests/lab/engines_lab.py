"""Every engine's server inside a lab's server namespace, and one engine run from the client
namespace: shared by tests/lab/test_engines.py and benchmarks/bench_engines.py.

``probe serve`` offers the native, LibreSpeed, Ookla legacy and ndt7 endpoints on one port;
iperf3 runs beside it (``-s -J -i 0.1``, so upload is counted by the server).
"""

from __future__ import annotations

import contextlib
import json
import resource
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from tests.lab.netlab import SERVER_IP, Lab
from tests.support import stop_process

PROBE_PORT = 8091
IPERF3_PORT = 5211
ENGINES = ("native", "librespeed", "speedtest", "ndt7", "iperf3")
# Tolerance of each engine against R x 1448/1514 on a tbf-shaped link in a 4 s run
# (docs/engines.md): the native engine's 3 % (tests/lab/test_accuracy.py); LibreSpeed (upload
# counted from TCP acknowledgements) and ndt7 (one stream) 5 %; speedtest-cli 8 %: its upload
# can only be counted as handed to its sockets (flagged upload_counted_at_client), which reads
# high while the send buffers grow.
TOLERANCE = {"native": 0.03, "iperf3": 0.03, "librespeed": 0.05, "speedtest": 0.08,
             "ndt7": 0.05}


def server_for(engine: str) -> str:
    if engine == "iperf3":
        return f"{SERVER_IP}:{IPERF3_PORT}"
    return f"http://{SERVER_IP}:{PROBE_PORT}"


@contextlib.contextmanager
def engine_servers(the_lab: Lab) -> Iterator[None]:
    """``probe serve`` and ``iperf3 -s`` in the server namespace, stopped afterwards."""
    procs = [
        the_lab.popen(the_lab.server_ns, [sys.executable, "-m", "probe", "serve", "--host",
                                          SERVER_IP, "--port", str(PROBE_PORT)],
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        the_lab.popen(the_lab.server_ns, ["iperf3", "-s", "-J", "-i", "0.1", "-B", SERVER_IP,
                                          "-p", str(IPERF3_PORT)],
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    ]
    try:
        the_lab.wait_http(the_lab.client_ns, f"http://{SERVER_IP}:{PROBE_PORT}/healthz")
        yield
    finally:
        for proc in procs:
            stop_process(proc)


@dataclass(frozen=True)
class EngineRun:
    returncode: int
    record: dict[str, Any] | None
    stderr: str
    cpu_s: float
    wall_s: float


def run_engine(the_lab: Lab, engine: str, *args: str, prefix: Sequence[str] = ()
               ) -> EngineRun:
    """``probe measure --backend ENGINE --json`` in the client namespace; its CPU time too.

    ``prefix`` wraps the whole command (e.g. entering a cgroup: ``ip netns exec`` remounts
    /sys, so the cgroup must be joined before it).
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.run(
        [*prefix, *the_lab.exec_argv(the_lab.client_ns, [
            sys.executable, "-m", "probe", "measure", "--backend", engine,
            "--server", server_for(engine), "--json", "--no-store", *args])],
        capture_output=True, text=True, timeout=180, check=False)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    record = json.loads(proc.stdout) if proc.returncode == 0 and proc.stdout.strip() else None
    return EngineRun(proc.returncode, record, proc.stderr, cpu, wall)
