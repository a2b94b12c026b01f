"""Which interface carries traffic to the measurement server.

Asks the kernel (``ip -o route get ADDR``: the route it would really use, policy routing
included) and falls back to the IPv4 table in /proc/net/route (longest prefix wins) where
iproute2 is missing. A server name is resolved the way the client will resolve it.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from urllib.parse import urlsplit

from probe.environment import ROUTE_INTERFACE, ROUTE_SERVER_IP, Fact, unknown
from probe.hostfacts.commands import CommandRunner
from probe.hostfacts.files import HostRoot

_DEV = re.compile(r"\bdev\s+(\S+)")


def server_address(server_url: str) -> tuple[Fact, str | None]:
    """The server's IP address (resolved once) as a fact, and the address itself."""
    host = urlsplit(server_url).hostname
    if not host:
        return unknown(ROUTE_SERVER_IP, server_url, "the URL names no host"), None
    try:
        ipaddress.ip_address(host)
        return Fact(ROUTE_SERVER_IP, host, server_url), host
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        return unknown(ROUTE_SERVER_IP, f"resolve {host}", f"cannot resolve: {exc}"), None
    address = str(infos[0][4][0])
    return Fact(ROUTE_SERVER_IP, address, f"resolve {host}"), address


def route_interface(address: str | None, root: HostRoot, run: CommandRunner) -> Fact:
    """The interface the kernel routes ``address`` through."""
    if address is None:
        return unknown(ROUTE_INTERFACE, "ip route get", "the server's address is unknown")
    argv = ["ip", "-o", "route", "get", address]
    out = run(argv)
    if out:
        match = _DEV.search(out)
        if match:
            return Fact(ROUTE_INTERFACE, match.group(1), " ".join(argv))
    return _from_proc_route(address, root, ran=out is not None)


def _from_proc_route(address: str, root: HostRoot, *, ran: bool) -> Fact:
    path = root.file("proc", "net", "route")
    why_ip = "ip gave no device" if ran else "iproute2 (ip) not available"
    try:
        target = ipaddress.IPv4Address(address)
    except ValueError:
        return unknown(ROUTE_INTERFACE, str(path), f"{why_ip}; {path} covers IPv4 only")
    text = root.read(path)
    if text is None:
        return unknown(ROUTE_INTERFACE, str(path), f"{why_ip}; {path} is not readable")
    best: tuple[int, int, str] | None = None  # (prefix length, -metric, interface)
    for line in text.splitlines()[1:]:
        cols = line.split()
        if len(cols) < 8:
            continue
        try:
            dest = int(cols[1], 16)
            mask = int(cols[7], 16)
            metric = int(cols[6])
        except ValueError:
            continue
        # /proc/net/route prints addresses as host-order (little-endian) hex.
        dest_ip = int.from_bytes(dest.to_bytes(4, "little"), "big")
        mask_ip = int.from_bytes(mask.to_bytes(4, "little"), "big")
        if int(target) & mask_ip != dest_ip:
            continue
        candidate = (bin(mask_ip).count("1"), -metric, cols[0])
        if best is None or candidate[:2] > best[:2]:
            best = candidate
    if best is None:
        return unknown(ROUTE_INTERFACE, str(path), f"{why_ip}; no route to {address} in it")
    return Fact(ROUTE_INTERFACE, best[2], str(path), why_ip)
