"""A two-host network lab: two namespaces joined by a veth pair, each direction shaped by tbf.

With ``router=True`` the two hosts are joined through a third namespace instead, a bridge
whose ports carry the tbf shapers, as a DSLAM or BRAS sits between a subscriber and the
Internet: the sender's own socket then no longer owns the packets queued at the bottleneck
(Linux's TCP small queues let one socket keep only about two packets in its own host's
qdisc, so a shaper in the sender's host is refilled only as fast as that host's softirqs
run, and under CPU load it idles).

Used by the lab tests and by ``benchmarks/bench_measure.py``. Only RFC 2544 benchmarking
addresses (198.18.0.0/15) are used inside the namespaces; nothing is routed anywhere else.

Congestion control: both hosts use ``cubic`` (``Lab.congestion``), Linux's default and what
home routers run, whatever the machine's own default is. This machine's is BBR, and BBR (v1)
misreads the lab: it probes for more bandwidth in phases one minimum round trip long, and
the lab's minimum round trip is ~14 µs (veth, no propagation delay; ``netem`` is not in
this kernel). A stream left alone after its siblings retired (``probe/engine/
streamcount.py``) kept pacing at the share it had measured, half of a 5 Mbit/s line, for up
to 2 s until a loss reset its estimate (``ss -ti``: ``bbr:(bw:2350320bps ...)``,
``pacing_rate 2326816bps``; 2026-11-29 15:40), and 6 s runs read up to 2.4 % low. On a real
path the probe phases last a real round trip and see freed capacity at once. Benchmarks
may ask for another algorithm (``lab(congestion="bbr")``) to compare.

Ground truth: a tbf qdisc counts each packet with its 14-byte Ethernet header but without FCS,
preamble or inter-frame gap, so IPv4 TCP with timestamps (MSS 1448, frame 1514) carries at most
``R * 1448 / 1514`` of payload on a link shaped at R. Segmentation offloads are turned off so
that the shaper sees real 1514-byte frames rather than 64 KiB GSO super-packets, which it would
charge one header for.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

SERVER_IP = "198.18.0.1"
CLIENT_IP = "198.18.0.2"
PREFIX_LEN = 24
GOODPUT_SHARE = 1448 / 1514
# With the lab's near-zero RTT a queue of 2-3 packets (20 ms at 0.5-2 Mbit/s) is too short for
# TCP to keep the link busy: iperf3 read -25 % (1 stream) to -5 % (4 streams) at 2 Mbit/s.
MIN_QUEUE_PACKETS = 8


class LabUnavailable(RuntimeError):
    """Namespaces cannot be made here (not root, or iproute2/tc missing)."""


def lab_unavailable_reason() -> str | None:
    """Why a lab cannot be built on this machine, or None when it can."""
    if os.geteuid() != 0:
        return "network namespaces need root (CI runs as root)"
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            return f"{tool} (iproute2) is not installed"
    return None


def _run(argv: Sequence[str]) -> None:
    proc = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise LabUnavailable(f"{' '.join(argv)}: {proc.stderr.strip() or proc.returncode}")


@dataclass
class Lab:
    """Two namespaces, ``server`` (198.18.0.1) and ``client`` (198.18.0.2), on one veth pair."""

    tag: str
    offloads: bool = False
    shaped_mbps: dict[str, float | None] = field(default_factory=dict)
    router: bool = False
    congestion: str = "cubic"

    @property
    def router_ns(self) -> str:
        return f"plab-r-{self.tag}"

    @property
    def server_ns(self) -> str:
        return f"plab-s-{self.tag}"

    @property
    def client_ns(self) -> str:
        return f"plab-c-{self.tag}"

    @property
    def server_dev(self) -> str:
        return f"pls{self.tag}"[:15]

    @property
    def client_dev(self) -> str:
        return f"plc{self.tag}"[:15]

    def create(self) -> None:
        _run(["ip", "netns", "add", self.server_ns])
        _run(["ip", "netns", "add", self.client_ns])
        if self.router:
            _run(["ip", "netns", "add", self.router_ns])
            _run(["ip", "-n", self.router_ns, "link", "add", "br0", "type", "bridge"])
            for dev, port in ((self.server_dev, "rs"), (self.client_dev, "rc")):
                _run(["ip", "link", "add", dev, "type", "veth", "peer", "name",
                      f"{port}{self.tag}"[:15]])
                _run(["ip", "link", "set", f"{port}{self.tag}"[:15], "netns", self.router_ns])
                _run(["ip", "-n", self.router_ns, "link", "set", f"{port}{self.tag}"[:15],
                      "name", port])
                _run(["ip", "-n", self.router_ns, "link", "set", port, "master", "br0"])
                _run(["ip", "-n", self.router_ns, "link", "set", port, "up"])
                self._offloads_off(self.router_ns, port)
            _run(["ip", "-n", self.router_ns, "link", "set", "br0", "up"])
        else:
            _run(["ip", "link", "add", self.server_dev, "type", "veth",
                  "peer", "name", self.client_dev])
        for ns, dev, ip in (
            (self.server_ns, self.server_dev, SERVER_IP),
            (self.client_ns, self.client_dev, CLIENT_IP),
        ):
            _run(["ip", "link", "set", dev, "netns", ns])
            _run(["ip", "-n", ns, "addr", "add", f"{ip}/{PREFIX_LEN}", "dev", dev])
            _run(["ip", "-n", ns, "link", "set", dev, "up"])
            _run(["ip", "-n", ns, "link", "set", "lo", "up"])
            self._offloads_off(ns, dev)
            # Each namespace has its own default (inherited from the host's at creation).
            with allowed_congestion(self.congestion):
                _run(["ip", "netns", "exec", ns, "sysctl", "-qw",
                      f"net.ipv4.tcp_congestion_control={self.congestion}"])

    def _offloads_off(self, ns: str, dev: str) -> None:
        if not self.offloads and shutil.which("ethtool"):
            _run(["ip", "netns", "exec", ns, "ethtool", "-K", dev,
                  "tso", "off", "gso", "off", "gro", "off"])

    def destroy(self) -> None:
        for ns in (self.server_ns, self.client_ns, *([self.router_ns] if self.router else [])):
            # Deleting a namespace kills its veth end (and so the pair); processes left inside
            # are the caller's to stop, which the fixtures do before calling this.
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)

    def shape(self, *, down_mbps: float | None, up_mbps: float | None,
              queue_s: float | None = None, burst_bytes: int | None = None) -> None:
        """Shape server→client (download) and client→server (upload); None removes shaping.

        ``queue_s``/``burst_bytes`` override :func:`tbf_args`' defaults, e.g. a DSL line's
        deep (0.6 s) or short (20 ms) queue and a burst of a few packets.
        """
        hops = ((self.router_ns, "rc"), (self.router_ns, "rs")) if self.router else (
            (self.server_ns, self.server_dev), (self.client_ns, self.client_dev))
        for (ns, dev), rate, key in zip(hops, (down_mbps, up_mbps), ("down", "up"),
                                        strict=True):
            subprocess.run(["ip", "netns", "exec", ns, "tc", "qdisc", "del", "dev", dev, "root"],
                           capture_output=True, check=False)
            if rate is not None:
                _run(["ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", dev, "root",
                      *tbf_args(rate, queue_s=queue_s, burst_bytes=burst_bytes)])
            self.shaped_mbps[key] = rate

    def expected_goodput_mbps(self, direction: str) -> float | None:
        """Payload rate a perfect measurement reads on the shaped direction."""
        rate = self.shaped_mbps.get(direction)
        return None if rate is None else rate * GOODPUT_SHARE

    def exec_argv(self, ns: str, argv: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", ns, *argv]

    def wait_http(self, ns: str, url: str, timeout_s: float = 20.0) -> None:
        """Poll ``url`` from inside namespace ``ns`` until it answers (or raise)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            proc = subprocess.run(
                self.exec_argv(ns, [sys.executable, "-c",
                                    "import sys, urllib.request; "
                                    "urllib.request.urlopen(sys.argv[1], timeout=1)", url]),
                capture_output=True, check=False)
            if proc.returncode == 0:
                return
            time.sleep(0.2)
        raise LabUnavailable(f"{url} did not answer within {timeout_s:g} s in {ns}")

    def popen(self, ns: str, argv: Sequence[str], **kwargs: object) -> subprocess.Popen[str]:
        return subprocess.Popen(self.exec_argv(ns, argv), text=True, **kwargs)  # type: ignore[call-overload,no-any-return]

    @contextlib.contextmanager
    def serving(self, ns: str, argv: Sequence[str], url: str, health_path: str
                ) -> Iterator[str]:
        """A server process in ``ns``, output discarded: yields ``url`` once ``health_path``
        answers from the client's side, and stops the process on leaving."""
        from tests.support import stop_process

        proc = self.popen(ns, argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            self.wait_http(self.client_ns, f"{url}{health_path}")
            yield url
        finally:
            stop_process(proc)


_ALLOWED_CC = Path("/proc/sys/net/ipv4/tcp_allowed_congestion_control")


@contextlib.contextmanager
def allowed_congestion(name: str) -> Iterator[None]:
    """Let a namespace choose ``name`` as its default, restoring the host's list after.

    A namespace other than the host's may only pick an algorithm the host allows
    (``tcp_allowed_congestion_control``, one list for all namespaces, written from the host's);
    this machine allows ``reno bbr``. The namespace keeps its choice once it is made.
    """
    before = _ALLOWED_CC.read_text().split() if _ALLOWED_CC.exists() else []
    if not before or name in before:
        yield
        return
    _ALLOWED_CC.write_text(" ".join([*before, name]))
    try:
        yield
    finally:
        _ALLOWED_CC.write_text(" ".join(before))


def tbf_args(rate_mbps: float, *, queue_s: float | None = None,
             burst_bytes: int | None = None) -> list[str]:
    """tbf parameters for a rate: a small bucket (so bursts don't bias a multi-second test)
    and a queue deep enough that a few TCP streams keep the link busy.

    With ``queue_s`` the queue holds exactly that many seconds of the rate (at least 2
    packets), as a DSL modem's or LTE base station's buffer does; without it, 50 ms but at
    least 100 packets.
    """
    rate_bytes_s = rate_mbps * 1e6 / 8
    if burst_bytes is None:
        burst_bytes = max(16 * 1514, int(rate_bytes_s * 0.002))
    if queue_s is None:
        limit_bytes = max(100 * 1514, int(rate_bytes_s * 0.05))
    else:
        limit_bytes = max(MIN_QUEUE_PACKETS * 1514, int(rate_bytes_s * queue_s))
    return ["tbf", "rate", f"{rate_mbps}mbit", "burst", str(burst_bytes), "limit", str(limit_bytes)]


@contextlib.contextmanager
def probe_server(the_lab: Lab, port: int = 8080) -> Iterator[str]:
    """``probe serve`` inside the server namespace; yields its URL as seen from the client."""
    with the_lab.serving(the_lab.server_ns, [
            sys.executable, "-m", "probe", "serve", "--host", SERVER_IP, "--port", str(port)],
            f"http://{SERVER_IP}:{port}", "/healthz") as url:
        yield url


@contextlib.contextmanager
def lab(tag: str | None = None, *, offloads: bool = False,
        router: bool = False, congestion: str = "cubic") -> Iterator[Lab]:
    """Build a lab and always tear it down, even when the body fails."""
    reason = lab_unavailable_reason()
    if reason is not None:
        raise LabUnavailable(reason)
    the_lab = Lab(tag=tag or f"{os.getpid() % 100000}{int(time.monotonic() * 1000) % 1000}",
                  offloads=offloads, router=router, congestion=congestion)
    try:
        the_lab.create()
        yield the_lab
    finally:
        the_lab.destroy()
