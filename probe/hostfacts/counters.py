"""Interface byte counters, CPU time and the route to a server, read from /sys and /proc.

The gating policy (:mod:`probe.agent.gating`) decides; this adapter only reads:

- ``/sys/class/net/IF/statistics/{rx,tx}_bytes`` (64-bit on Linux, also on OpenWrt),
- ``/proc/stat``'s first ``cpu`` line (busy = all but idle and iowait),
- ``/proc/net/route`` and ``/proc/net/ipv6_route`` for the interface a server is reached by,
  longest prefix first, so no ``ip`` binary is needed (BusyBox routers have a reduced one).

``root`` lets tests point the reader at a fake tree; inside a network namespace entered with
``ip netns exec`` /sys shows that namespace's interfaces, which is what the lab tests rely on.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from probe.errors import ConfigError
from probe.hostload import CounterSample, CpuSample

SYS_NET = "sys/class/net"


class CounterReader:
    """Reads one interface's counters and the CPU times; the clock is injectable."""

    def __init__(self, interface: str, *, root: Path = Path("/"),
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.interface = interface
        self.root = root
        self.clock = clock
        if not (root / SYS_NET / interface).exists():
            known = ", ".join(list_interfaces(root)) or "none"
            raise ConfigError(f"gating.interface: no network interface {interface!r} "
                              f"(this host has: {known})")

    def counters(self) -> CounterSample:
        stats = self.root / SYS_NET / self.interface / "statistics"
        try:
            rx = int((stats / "rx_bytes").read_text())
            tx = int((stats / "tx_bytes").read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"gating.interface: cannot read the counters of "
                              f"{self.interface!r}: {exc}") from exc
        return CounterSample(self.clock(), rx, tx)

    def cpu(self) -> CpuSample | None:
        """Cumulative busy and total jiffies, or None where /proc/stat cannot be read."""
        try:
            first = (self.root / "proc/stat").read_text().splitlines()[0].split()
        except (OSError, IndexError):
            return None
        if not first or first[0] != "cpu":
            return None
        values = [int(v) for v in first[1:]]
        # user nice system idle iowait irq softirq steal [guest guest_nice: already in user]
        total = sum(values[:8])
        idle = values[3] + (values[4] if len(values) > 4 else 0)
        return CpuSample(busy=total - idle, total=total)


def list_interfaces(root: Path = Path("/")) -> list[str]:
    try:
        return sorted(p.name for p in (root / SYS_NET).iterdir())
    except OSError:
        return []


def server_address(server: str) -> str:
    """The first address a server URL or host name resolves to."""
    host = urlsplit(server).hostname if "//" in server else server.strip("[]")
    if not host:
        raise ConfigError(f"gating: cannot tell the host of server {server!r}")
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ConfigError(f"gating: cannot resolve {host!r} to find the interface: {exc}") \
            from exc
    return str(infos[0][4][0])


def route_interface(server: str, *, root: Path = Path("/")) -> str:
    """The interface the kernel routes ``server`` (URL, host or address) through.

    Reads the routing tables directly; raises ConfigError (set ``[gating] interface``) when
    no route matches.
    """
    address = ipaddress.ip_address(server_address(server))
    if address.is_loopback:
        # The local routing table (not in /proc/net/route) sends loopback to lo.
        return "lo"
    routes = (_ipv4_routes(root) if address.version == 4 else _ipv6_routes(root))
    best: tuple[int, int, str] | None = None
    for network, metric, dev in routes:
        if address in network:
            key = (network.prefixlen, -metric, dev)
            if best is None or key[:2] > best[:2]:
                best = key
    if best is None:
        raise ConfigError(f"gating: no route to {address} found in /proc/net; "
                          "set [gating] interface")
    return best[2]


def _ipv4_routes(root: Path) -> list[tuple[ipaddress.IPv4Network, int, str]]:
    routes = []
    try:
        lines = (root / "proc/net/route").read_text().splitlines()[1:]
    except OSError:
        return []
    for line in lines:
        cols = line.split()
        if len(cols) < 8:
            continue
        # Destination and Mask are little-endian hex as the kernel prints them.
        dest = ipaddress.IPv4Address(int(cols[1], 16).to_bytes(4, "little"))
        mask = ipaddress.IPv4Address(int(cols[7], 16).to_bytes(4, "little"))
        try:
            network = ipaddress.IPv4Network(f"{dest}/{mask}")
        except ValueError:
            continue
        routes.append((network, int(cols[6]), cols[0]))
    return routes


def _ipv6_routes(root: Path) -> list[tuple[ipaddress.IPv6Network, int, str]]:
    routes = []
    try:
        lines = (root / "proc/net/ipv6_route").read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        cols = line.split()
        if len(cols) < 10 or cols[9] == "lo":
            continue
        try:
            network = ipaddress.IPv6Network(
                f"{ipaddress.IPv6Address(bytes.fromhex(cols[0]))}/{int(cols[1], 16)}")
        except ValueError:
            continue
        routes.append((network, int(cols[5], 16), cols[9]))
    return routes
