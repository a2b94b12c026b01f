"""Adaptive test length (issue #13 item 4): bytes, duration and error of ``--duration auto``
against a fixed 10 s test on the same shaped line.

Builds the lab of ``tests/lab/netlab.py`` (needs root), shapes both directions with tbf at each
of ``--rates`` (the lab's default queue and burst), and runs ``probe measure`` for ``--rounds``
rounds per rate, alternating a fixed ``--duration`` (10 s) test and an ``auto`` one (which goes
first alternates too). Per rate and direction: median bytes, median time the streams moved
data (``stopped_at_s``, fixed: the duration) and whole direction (``elapsed_s``), median and
worst error against R x 1448/1514, how many readings were flagged, and auto's bytes as a share
of fixed. The target: auto uses <= 60 % of fixed's bytes at 100 and 500 Mbit/s with the same
accuracy. Raw records go to ``benchmarks/results/auto-duration-<stamp>.json``.

    sudo .venv/bin/python benchmarks/bench_auto_duration.py --rates 10,100,500 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.rawrecords import print_table, save_raw  # noqa: E402
from tests.lab.netlab import GOODPUT_SHARE, SERVER_IP, Lab, lab  # noqa: E402
from tests.support import stop_process  # noqa: E402

PORT = 8080
DIRECTIONS = ("download", "upload")


def probe_round(the_lab: Lab, duration: str) -> dict[str, Any]:
    started = time.monotonic()
    proc = subprocess.run(
        the_lab.exec_argv(the_lab.client_ns, [
            sys.executable, "-m", "probe", "measure", "--server", f"http://{SERVER_IP}:{PORT}",
            "--json", "--no-store", "--duration", duration]),
        capture_output=True, text=True, check=False, cwd=ROOT)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip()[-200:], "wall_s": time.monotonic() - started}
    record: dict[str, Any] = json.loads(proc.stdout)
    record["wall_s"] = time.monotonic() - started
    return record


def flagged(record: dict[str, Any], name: str) -> bool:
    flags = set(record.get("flags", ()))
    return ((record.get(name) or {}).get("steady") is False
            or f"{name}_streams_ended_early" in flags or "client_cpu_limited" in flags
            or (name == "upload" and "upload_not_counted" in flags))


def run_rate(the_lab: Lab, rate: float, args: argparse.Namespace,
             raw: list[dict[str, Any]]) -> list[str]:
    """All rounds at one rate; the summary table's rows for it."""
    the_lab.shape(down_mbps=rate, up_mbps=rate)
    truth = rate * GOODPUT_SHARE
    kinds = {"fixed": f"{args.duration:g}", "auto": "auto"}
    seen: dict[tuple[str, str], list[dict[str, Any]]] = {
        (k, d): [] for k in kinds for d in DIRECTIONS}
    for i in range(args.rounds):
        order = ("fixed", "auto") if i % 2 == 0 else ("auto", "fixed")
        for kind in order:
            record = probe_round(the_lab, kinds[kind])
            raw.append({"rate": rate, "round": i, "kind": kind, "record": record})
            line = [f"{rate:g} Mbit/s round {i + 1} {kind:<5}"]
            for name in DIRECTIONS:
                if "error" in record:
                    line.append(f"{name} failed ({record['error']})")
                    continue
                details = record.get(name) or {}
                value = record.get(f"{name}_mbps")
                row = {"bytes": record.get(f"{name}_bytes") or 0,
                       "moved_s": details.get("stopped_at_s") or args.duration,
                       "elapsed_s": details.get("elapsed_s") or 0.0,
                       "error": None if value is None else value / truth - 1,
                       "flagged": flagged(record, name),
                       "reason": details.get("stop_reason")}
                seen[(kind, name)].append(row)
                err = "null" if row["error"] is None else f"{row['error'] * 100:+.2f} %"
                line.append(f"{name} {err} {row['bytes'] / 1e6:.1f} MB "
                            f"{row['moved_s']:.1f}/{row['elapsed_s']:.1f} s {row['reason']}"
                            f"{' FLAGGED' if row['flagged'] else ''}")
            print(" | ".join(line), flush=True)
    rows = []
    for name in DIRECTIONS:
        fixed_bytes = statistics.median(r["bytes"] for r in seen[("fixed", name)]) or 1
        for kind in kinds:
            got = seen[(kind, name)]
            if not got:
                continue
            errors = [r["error"] for r in got if r["error"] is not None]
            med_bytes = statistics.median(r["bytes"] for r in got)
            reasons = sorted({str(r["reason"]) for r in got})
            rows.append(
                f"| {rate:g} | {name} | {kind} | {len(got)} | {med_bytes / 1e6:,.1f} | "
                f"{med_bytes / fixed_bytes:.0%} | "
                f"{statistics.median(r['moved_s'] for r in got):.1f} | "
                f"{statistics.median(r['elapsed_s'] for r in got):.1f} | "
                + (f"{statistics.median(errors) * 100:+.2f} % | "
                   f"{max(errors, key=abs) * 100:+.2f} % | " if errors else "- | - | ")
                + f"{sum(r['flagged'] for r in got)} | {', '.join(reasons)} |")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="10,100,500", help="Mbit/s, both directions")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of fixed + auto per rate")
    parser.add_argument("--duration", type=float, default=10.0, help="the fixed test, s")
    args = parser.parse_args()
    stamp = datetime.now(UTC)
    load = os.getloadavg()
    print(f"{stamp:%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, load {load[0]:.2f} "
          f"{load[1]:.2f} {load[2]:.2f}; fixed {args.duration:g} s vs auto, alternating, "
          f"{args.rounds} rounds per rate, 4 streams", flush=True)
    raw: list[dict[str, Any]] = []
    rows: list[str] = []
    with lab() as the_lab:
        server = the_lab.popen(the_lab.server_ns, [
            sys.executable, "-m", "probe", "serve", "--host", SERVER_IP, "--port", str(PORT)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
        try:
            the_lab.wait_http(the_lab.client_ns, f"http://{SERVER_IP}:{PORT}/healthz")
            for rate in (float(r) for r in args.rates.split(",")):
                rows += run_rate(the_lab, rate, args, raw)
        finally:
            stop_process(server)
    load = os.getloadavg()
    print(f"load after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print_table(("Mbit/s", "dir", "length", "rounds", "MB (median)", "bytes vs fixed",
                 "moved data s", "direction s", "error median", "error worst", "flagged",
                 "stop reasons"), rows)
    save_raw("auto-duration", stamp, raw)
    return 0


if __name__ == "__main__":
    sys.exit(main())
