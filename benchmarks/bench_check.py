"""Time from start to verdict of ``probe check`` on a 100 Mbit/s lab link, both directions.

Builds the two-namespace lab, shapes both directions to 100 Mbit/s with tbf, runs ``probe
serve`` in the server namespace and ``probe check --json`` (default plan: 10 s per direction,
4 streams) in the client namespace, ``--rounds`` times. The first round has no self-test
cache (it runs the ~5 s loopback self-test); later rounds use the cache, as a field visit
does after the first check. Reported per round:

- wall: process start to exit, as the engineer waits (interpreter start, imports, store);
- to verdict: the check's own ``elapsed_s`` (diagnostics through attribution).

Optional ``--cpu-quota 0.5`` runs the client under a cgroup v1 CPU quota (a router's CPU).

Run as root:  .venv/bin/python benchmarks/bench_check.py [--rounds 3] [--duration 10]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.cpuquota import cpu_quota  # noqa: E402
from tests.lab.netlab import SERVER_IP, lab  # noqa: E402
from tests.support import stop_process  # noqa: E402

PY = str(ROOT / ".venv" / "bin" / "python")
CONTRACT = ROOT / "contracts" / "cn-ftth-300.toml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--cpu-quota", type=float, default=None)
    args = parser.parse_args()
    rows = []
    with lab() as the_lab, tempfile.TemporaryDirectory() as state, \
            cpu_quota(args.cpu_quota, "check") as prefix:
        the_lab.shape(down_mbps=args.rate, up_mbps=args.rate)
        server = the_lab.popen(the_lab.server_ns, [PY, "-m", "probe", "serve", "--host",
                                                   SERVER_IP, "--port", "8080"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://{SERVER_IP}:8080"
        try:
            the_lab.wait_http(the_lab.client_ns, f"{url}/healthz")
            env = {**os.environ, "PROBE_STATE_DIR": state, "PYTHONPATH": str(ROOT)}
            for k in range(args.rounds):
                t0 = time.monotonic()
                proc = subprocess.run(
                    # The cgroup is joined outside the namespace: `ip netns exec` remounts
                    # /sys, where the cgroup hierarchy is not mounted.
                    [*prefix, *the_lab.exec_argv(the_lab.client_ns, [
                        PY, "-m", "probe", "check", "--contract", str(CONTRACT),
                        "--server", url, "--duration", str(args.duration), "--json"])],
                    capture_output=True, text=True, env=env, check=False, cwd=ROOT)
                wall = time.monotonic() - t0
                if not proc.stdout.strip():
                    raise SystemExit(f"probe check failed: {proc.stderr.strip()}")
                out = json.loads(proc.stdout)
                env_facts = {f["name"]: f for f in out["environment"]}
                rows.append({
                    "round": k + 1, "wall_s": round(wall, 2), "to_verdict_s": out["elapsed_s"],
                    "self_test": "run" if "just run" in
                    env_facts["client.ceiling_down_mbps"]["source"] else "cached",
                    "down_mbps": round(out["measurement"]["download_mbps"], 2),
                    "up_mbps": round(out["measurement"]["upload_mbps"], 2),
                    "verdict": out["verdict"], "isp_verdict": out["attribution"]["isp_verdict"],
                    "cause": out["attribution"]["cause"],
                    "ceiling": (env_facts["client.ceiling_down_mbps"]["value"],
                                env_facts["client.ceiling_up_mbps"]["value"]),
                })
        finally:
            stop_process(server)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = os.getloadavg()
    quota = f", client CPU quota {args.cpu_quota}" if args.cpu_quota else ""
    print(f"probe check, lab link {args.rate:g}/{args.rate:g} Mbit/s (tbf), "
          f"{args.duration:g} s per direction{quota}, {when}, "
          f"load avg {load[0]:.2f} {load[1]:.2f}")
    print("| round | self-test | ceiling down/up Mbit/s | wall s | start to verdict s | "
          "down Mbit/s | up Mbit/s | verdict | for the ISP (cause) |")
    print("|---:|---|---:|---:|---:|---:|---:|---|---|")
    for r in rows:
        down, up = r["ceiling"]
        print(f"| {r['round']} | {r['self_test']} | {down} / {up} | {r['wall_s']} | "
              f"{r['to_verdict_s']} | {r['down_mbps']} | {r['up_mbps']} | {r['verdict']} | "
              f"{r['isp_verdict']} ({r['cause']}) |")


if __name__ == "__main__":
    main()
