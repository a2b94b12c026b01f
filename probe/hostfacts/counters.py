"""Interface byte counters, CPU time and the route to a server, read from /sys and /proc.

The gating policy (:mod:`probe.agent.gating`) decides; this adapter only reads:

- ``/sys/class/net/IF/statistics/{rx,tx}_bytes`` (64-bit on Linux, also on OpenWrt),
- ``/proc/stat``'s first ``cpu`` line (busy = all but idle and iowait),
- the interface a server is reached by, through :mod:`probe.hostfacts.route` (``ip route
  get``, falling back to ``/proc/net/route``).

``root`` lets tests point the reader at a fake tree; inside a network namespace entered with
``ip netns exec`` /sys shows that namespace's interfaces, which is what the lab tests rely on.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable
from pathlib import Path

from probe.errors import ConfigError
from probe.hostfacts.commands import CommandRunner, run_tool
from probe.hostfacts.files import HostRoot
from probe.hostfacts.route import route_interface as find_route
from probe.hostfacts.route import server_address
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


def route_interface(server: str, *, root: Path = Path("/"),
                    run: CommandRunner = run_tool) -> str:
    """The interface the kernel routes ``server`` (a URL) through, as probe.hostfacts.route
    finds it (``ip route get``, else /proc/net/route); ConfigError when it cannot be told."""
    address_fact, address = server_address(server)
    if address is None:
        raise ConfigError(f"gating: cannot find the interface to {server}: {address_fact.note}; "
                          "set [gating] interface")
    if ipaddress.ip_address(address).is_loopback:
        return "lo"  # the local table (not in /proc/net/route) sends loopback there
    fact = find_route(address, HostRoot(root), run)
    if fact.value is None:
        raise ConfigError(f"gating: no route to {address} found ({fact.note}); "
                          "set [gating] interface")
    return str(fact.value)
