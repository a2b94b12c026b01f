"""Facts about the measuring host, as frozen values: what the environment diagnostics found.

Each :class:`Fact` says what it is (``name``), its value (``None`` when it is unknown — never a
guess), where it came from (``source``: a file, a command, a self-test) and, when helpful, a
note (why it is unknown, or what a raw value means). :class:`HostFacts` is the set one run
collected; the attribution rules (:mod:`probe.compliance.attribution`) read it, the report
prints it, and its JSON form travels with ``probe check --json``.

Facts are collected by the ``probe.hostfacts`` adapter; this module only names and holds them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from probe.errors import RecordFormatError

FactValue = str | int | float | bool | None

# The names of the facts the diagnostics collect and the rules read.
ROUTE_INTERFACE: Final = "route.interface"
ROUTE_SERVER_IP: Final = "route.server_ip"
LINK_KIND: Final = "link.kind"  # "ethernet" | "wifi" | "other"
LINK_SPEED_MBPS: Final = "link.speed_mbps"  # negotiated Ethernet speed (line rate)
LINK_DUPLEX: Final = "link.duplex"  # "full" | "half"
WIFI_PHY_RATE_MBPS: Final = "wifi.phy_rate_mbps"  # transmit bitrate the radio negotiated
WIFI_RX_RATE_MBPS: Final = "wifi.rx_rate_mbps"
WIFI_SIGNAL_DBM: Final = "wifi.signal_dbm"
WIFI_BAND: Final = "wifi.band"  # "2.4 GHz" | "5 GHz" | "6 GHz"
CLIENT_CEILING_DOWN_MBPS: Final = "client.ceiling_down_mbps"
CLIENT_CEILING_UP_MBPS: Final = "client.ceiling_up_mbps"
CPU_LOAD_SHARE: Final = "host.cpu_load_share"  # 0..1 busy share of all CPUs during the test
CROSS_TRAFFIC_BYTES_S: Final = "link.cross_traffic_bytes_s"  # bytes/s not the probe's own
CONTAINER: Final = "host.container"

LINK_KINDS: Final = ("ethernet", "wifi", "other")


@dataclass(frozen=True, slots=True)
class Fact:
    """One thing known (or not) about the host, with where it came from."""

    name: str
    value: FactValue
    source: str
    note: str = ""

    @property
    def known(self) -> bool:
        return self.value is not None

    def to_json_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "source": self.source,
                "note": self.note}

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> Fact:
        try:
            value = data["value"]
            if value is not None and not isinstance(value, str | int | float | bool):
                raise RecordFormatError(f"fact {data['name']!r} has a non-scalar value")
            return cls(str(data["name"]), value, str(data["source"]), str(data.get("note", "")))
        except KeyError as exc:
            raise RecordFormatError(f"a host fact lacks {exc.args[0]!r}") from exc


def unknown(name: str, source: str, why: str) -> Fact:
    """A fact that could not be established, saying where it was looked for and why not."""
    return Fact(name, None, source, why)


@dataclass(frozen=True, slots=True)
class HostFacts:
    """The facts of one run, in the order they were collected; later ones replace earlier."""

    facts: tuple[Fact, ...] = ()

    def get(self, name: str) -> Fact:
        """The fact called ``name``; an unknown placeholder when nothing was collected."""
        for fact in reversed(self.facts):
            if fact.name == name:
                return fact
        return unknown(name, "not collected", "no diagnostic ran for this fact")

    def value(self, name: str) -> FactValue:
        return self.get(name).value

    def number(self, name: str) -> float | None:
        """A numeric fact's value, or None when unknown (or not a number)."""
        value = self.get(name).value
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return float(value)

    def with_facts(self, more: Iterable[Fact]) -> HostFacts:
        return HostFacts((*self.facts, *more))

    def latest(self) -> tuple[Fact, ...]:
        """One fact per name (the last collected), in first-seen order."""
        order: dict[str, Fact] = {}
        for fact in self.facts:
            order[fact.name] = fact
        return tuple(order.values())

    def to_json_list(self) -> list[dict[str, Any]]:
        return [f.to_json_dict() for f in self.latest()]

    @classmethod
    def from_json_list(cls, data: Iterable[Mapping[str, Any]]) -> HostFacts:
        return cls(tuple(Fact.from_json_dict(d) for d in data))


# The probe's own bytes on the interface: payload in 1514-byte frames per 1448 payload bytes,
# plus this margin for ACKs, HTTP heads and latency probes (ACKs alone are ~2.3 % of a
# direction's payload when every second segment is acknowledged without GRO).
OWN_TRAFFIC_MARGIN: Final = 0.03
FRAME_PER_PAYLOAD: Final = 1514 / 1448


def cross_traffic_bytes_s(interface_bytes: int, own_payload_bytes: int, seconds: float,
                          unread_bytes: float = 0.0) -> float | None:
    """Bytes/s on the interface beyond what the probe's own transfers account for.

    ``unread_bytes`` allows for what arrived but was never read: a download is cut at its
    deadline with a receive buffer and the server's window in flight, up to about two
    bandwidth-delay products. Traffic smaller than these margins reads as 0.
    """
    if seconds <= 0:
        return None
    own = own_payload_bytes * FRAME_PER_PAYLOAD * (1 + OWN_TRAFFIC_MARGIN) + unread_bytes
    return max(0.0, interface_bytes - own) / seconds


def unread_at_cut_bytes(rate_mbps: float | None, loaded_rtt_ms: float | None) -> float:
    """Two bandwidth-delay products of a download (its loaded RTT, else 100 ms)."""
    if rate_mbps is None:
        return 0.0
    rtt_s = (loaded_rtt_ms if loaded_rtt_ms is not None else 100.0) / 1000
    return 2 * rate_mbps * 1e6 / 8 * rtt_s * FRAME_PER_PAYLOAD


def other_cpu_share(busy_s: float, total_s: float, own_cpu_s: float) -> float | None:
    """Share of all CPUs busy with anything but this process (0..1), from /proc/stat deltas."""
    if total_s <= 0:
        return None
    return min(1.0, max(0.0, (busy_s - own_cpu_s) / total_s))
