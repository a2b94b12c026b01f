"""Server-side cost of a gigabyte: CPU-seconds per GB and throughput over loopback.

Compares the measurement server's send and receive paths (downloads: raw ``send()`` on the
socket with its variants vs transport ``write()`` slices vs sendfile; uploads read by the
hand-off to our own BufferedProtocol vs through aiohttp's parser with iter_any) with iperf3
doing the same transfer. The client is a minimal raw-socket reader/writer so that the
figure is the server's. CPU is the server process's utime+stime
from /proc (iperf3: wait4 rusage).

    .venv/bin/python benchmarks/server_cpu.py [--gb 2] [--repeat 3]

Not a test: numbers depend on the machine and on whatever else runs on it.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TICK_S = 1 / os.sysconf("SC_CLK_TCK")
GB = 10**9
CHUNK = 1 << 20

SERVER = """
import sys
from probe.server import ServerConfig, serve

variant = sys.argv[1]
fields = {"port": 0, "host": "127.0.0.1"}
if variant.startswith("write"):  # through aiohttp's transport, not straight to the socket
    from probe.server import payload
    fields["use_sendfile"] = False
    payload.raw_socket = lambda transport: None
    if ":" in variant:
        payload.WRITE_SLICE_BYTES = int(variant.split(":")[1])
if variant.startswith("raw:"):  # raw send() with another fast-stream unsent bound (0 = none)
    from probe import sendpolicy
    from probe.server import sender
    sendpolicy.FAST_UNSENT_BYTES = int(variant.split(":")[1])
    if variant.count(":") > 1:
        sender.SEND_SLICE_BYTES = int(variant.split(":")[2])
if variant == "sendfile":
    fields["use_sendfile"] = True
if variant.startswith("recv:"):
    from probe.server import bodysink
    bodysink.RECV_BUFFER_BYTES = int(variant.split(":")[1])
if variant.startswith("aiohttp"):  # uploads through aiohttp's parser: no hand-off runner
    from aiohttp import web
    from probe.server import runner
    runner.HandoffRunner = web.AppRunner
    if ":" in variant:
        fields["read_bufsize_bytes"] = int(variant.split(":")[1])
serve(ServerConfig(**fields, max_transfer_bytes=1 << 40, max_transfer_s=600), 1,
      lambda url: print(url, flush=True))
"""


def cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * TICK_S


def start_server(variant: str) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen([sys.executable, "-c", SERVER, variant], stdout=subprocess.PIPE,
                            text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT})
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    return proc, int(url.rsplit(":", 1)[1])


def download(port: int, count: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET /download?bytes=%d HTTP/1.1\r\nHost: b\r\n\r\n" % count)
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(65536)
        left = count - (len(head) - head.index(b"\r\n\r\n") - 4)
        while left > 0:
            n = sock.recv_into(view, min(CHUNK, left))
            if not n:
                raise RuntimeError("short download")
            left -= n


def upload(port: int, count: int) -> None:
    block = memoryview(os.urandom(CHUNK))
    prefix = b"%x\r\n" % CHUNK
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"POST /upload HTTP/1.1\r\nHost: b\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(count // CHUNK):
            sock.sendmsg([prefix, block, b"\r\n"])
        sock.sendall(b"0\r\n\r\n")
        answer = sock.recv(65536)
        if not answer.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(answer[:200])


def run_probe(pid: int, port: int, direction: Callable[[int, int], None],
              count: int) -> tuple[float, float]:
    before, t0 = cpu_s(pid), time.monotonic()
    direction(port, count)
    elapsed = time.monotonic() - t0
    return (cpu_s(pid) - before) / (count / GB), count * 8 / elapsed / 1e9


def run_iperf3(reverse: bool, count: int) -> tuple[float, float]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(["iperf3", "-s", "-1", "-B", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    args = ["iperf3", "-c", "127.0.0.1", "-p", str(port), "-n", str(count), "-l", "1M"]
    t0 = time.monotonic()
    subprocess.run(args + (["-R"] if reverse else []), check=True, capture_output=True)
    elapsed = time.monotonic() - t0
    _, _, usage = os.wait4(server.pid, 0)
    server.returncode = 0
    return (usage.ru_utime + usage.ru_stime) / (count / GB), count * 8 / elapsed / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=2.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    count = int(args.gb * GB) // CHUNK * CHUNK
    print(f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, {platform.processor()}"
          f" {os.cpu_count()} CPUs, Linux {platform.release()}, Python "
          f"{platform.python_version()}; {count / GB:.2f} GB per run, median of {args.repeat}")
    print("| server path | direction | server CPU-s/GB | Gbit/s (loopback) |")
    print("|---|---|---|---|")
    rows = [
        ("probe raw send() on the socket (default)", "download", "raw", download),
        ("probe raw send(), no unsent-queue bound", "download", "raw:0", download),
        ("probe raw send(), unsent bound 1 MiB", "download", "raw:1048576", download),
        ("probe raw send(), no bound, 16 MiB sends", "download", "raw:0:16777216", download),
        ("probe raw send(), no bound, 256 KiB sends", "download", "raw:0:262144", download),
        ("probe raw send(), bound 256 KiB, 256 KiB sends", "download", "raw:262144:262144",
         download),
        ("probe transport write() 1 MiB slices", "download", "write", download),
        ("probe sendfile (memfd)", "download", "sendfile", download),
        ("probe hand-off, recv_into 1 MiB (default)", "upload", "default", upload),
        ("probe hand-off, recv_into 256 KiB", "upload", "recv:262144", upload),
        ("probe hand-off, recv_into 64 KiB", "upload", "recv:65536", upload),
        ("probe via aiohttp iter_any, read_bufsize 1 MiB", "upload", "aiohttp", upload),
    ]
    servers = {variant: start_server(variant) for _, _, variant, _ in rows}
    results: dict[str, list[tuple[float, float]]] = {label: [] for label, *_ in rows}
    iperf = {"iperf3 -R (server sends)": True, "iperf3 (server receives)": False}
    results.update({label: [] for label in iperf})
    try:
        for (_proc, port), (_, _, _, fn) in zip(servers.values(), rows, strict=True):
            fn(port, 64 * CHUNK)  # warm up: payload generated, allocator settled
        # Interleaved rounds: load from other processes hits every variant alike.
        for _ in range(args.repeat):
            for label, _, variant, fn in rows:
                proc, port = servers[variant]
                results[label].append(run_probe(proc.pid, port, fn, count))
            for label, reverse in iperf.items():
                results[label].append(run_iperf3(reverse, count))
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(10)
    directions = {label: direction for label, direction, *_ in rows}
    directions.update({label: "download" if rev else "upload" for label, rev in iperf.items()})
    for label, runs in results.items():
        cpu = statistics.median(r[0] for r in runs)
        rate = statistics.median(r[1] for r in runs)
        print(f"| {label} | {directions[label]} | {cpu:.3f} | {rate:.1f} |")


if __name__ == "__main__":
    main()
