"""What kind of link an interface is, and what an Ethernet port negotiated (from sysfs).

- Wi-Fi: the interface has ``wireless/`` or ``phy80211`` in /sys/class/net/IF.
- Ethernet: ``type`` is 1 (ARPHRD_ETHER) and ``device`` links to real hardware. Virtual
  interfaces (veth, bridges, VPN tunnels, a container's eth0) also say type 1 but have no
  device; they are "other", and their ``speed`` (veth reports 10000) is not a negotiated rate,
  so it is not reported as one.
- Speed and duplex come from ``speed``/``duplex``; the kernel answers -1/"unknown" or EINVAL
  when the link is down or the driver does not know, which stays unknown.
"""

from __future__ import annotations

from pathlib import Path

from probe.environment import LINK_DUPLEX, LINK_KIND, LINK_SPEED_MBPS, Fact, unknown
from probe.hostfacts.files import HostRoot

ARPHRD_ETHER = 1
ARPHRD_LOOPBACK = 772


def link_facts(interface: str | None, root: HostRoot) -> list[Fact]:
    """Kind, speed and duplex of ``interface`` (unknowns when it is None or not in sysfs)."""
    if interface is None:
        why = "the interface towards the server is unknown"
        return [unknown(n, "sysfs", why) for n in (LINK_KIND, LINK_SPEED_MBPS, LINK_DUPLEX)]
    base = root.net(interface)
    if not base.exists():
        why = f"{base} does not exist (no sysfs here, e.g. a restricted container)"
        return [unknown(n, str(base), why) for n in (LINK_KIND, LINK_SPEED_MBPS, LINK_DUPLEX)]
    kind = _kind(interface, root)
    if kind.value != "ethernet":
        why = f"not an Ethernet port ({kind.value or 'unknown kind'})"
        return [kind, unknown(LINK_SPEED_MBPS, str(base / "speed"), why),
                unknown(LINK_DUPLEX, str(base / "duplex"), why)]
    return [kind, _speed(base / "speed", root), _duplex(base / "duplex", root)]


def _kind(interface: str, root: HostRoot) -> Fact:
    base = root.net(interface)
    if (base / "wireless").exists() or (base / "phy80211").exists():
        return Fact(LINK_KIND, "wifi", str(base / ("wireless" if (base / "wireless").exists()
                                                   else "phy80211")))
    type_path = base / "type"
    arp_type = root.read_int(type_path)
    if arp_type is None:
        return unknown(LINK_KIND, str(type_path), "unreadable")
    if arp_type == ARPHRD_LOOPBACK:
        return Fact(LINK_KIND, "other", str(type_path), "loopback: the server is on this host")
    if arp_type != ARPHRD_ETHER:
        return Fact(LINK_KIND, "other", str(type_path), f"link type {arp_type} (not Ethernet)")
    if not (base / "device").exists():
        devtype = _uevent_devtype(interface, root)
        what = devtype or "veth, bridge, tunnel or a container's interface"
        return Fact(LINK_KIND, "other", str(base / "device"),
                    f"virtual interface ({what}): the physical port is elsewhere")
    return Fact(LINK_KIND, "ethernet", f"{type_path} = 1 and {base / 'device'}")


def _uevent_devtype(interface: str, root: HostRoot) -> str | None:
    text = root.read(root.net(interface, "uevent")) or ""
    for line in text.splitlines():
        if line.startswith("DEVTYPE="):
            return line.partition("=")[2] or None
    return None


def _speed(path: Path, root: HostRoot) -> Fact:
    speed = root.read_int(path)
    if speed is None or speed <= 0:
        return unknown(LINK_SPEED_MBPS, str(path), "link down or the driver does not say")
    return Fact(LINK_SPEED_MBPS, speed, str(path))


def _duplex(path: Path, root: HostRoot) -> Fact:
    text = root.read(path)
    if text not in ("full", "half"):
        return unknown(LINK_DUPLEX, str(path), "link down or the driver does not say")
    return Fact(LINK_DUPLEX, text, str(path))
