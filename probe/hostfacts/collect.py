"""One pass of the environment diagnostics towards a server: route, link kind and speed,
Wi-Fi state, container. (The client ceiling and the counters around a test are added by the
caller, which runs the test.)"""

from __future__ import annotations

from probe.environment import (
    CONTAINER,
    LINK_KIND,
    ROUTE_INTERFACE,
    Fact,
    HostFacts,
    unknown,
)
from probe.hostfacts.commands import CommandRunner, run_tool
from probe.hostfacts.files import HostRoot
from probe.hostfacts.link import link_facts
from probe.hostfacts.route import route_interface, server_address
from probe.hostfacts.wifi import NAMES as WIFI_NAMES
from probe.hostfacts.wifi import wifi_facts

_CONTAINER_MARKS = ("docker", "kubepods", "lxc", "containerd", "libpod")


def collect(server_url: str, *, root: HostRoot | None = None,
            run: CommandRunner = run_tool) -> HostFacts:
    """Everything known about the path to ``server_url`` on this host; never raises."""
    root = root or HostRoot.from_env()
    address_fact, address = server_address(server_url)
    iface_fact = route_interface(address, root, run)
    interface = iface_fact.value if isinstance(iface_fact.value, str) else None
    facts = [address_fact, iface_fact, container_fact(root), *link_facts(interface, root)]
    kind = next(f for f in facts if f.name == LINK_KIND)
    if kind.value == "wifi" and interface is not None:
        facts += wifi_facts(interface, root, run)
    else:
        facts += [unknown(n, "iw", "not a Wi-Fi link") for n in WIFI_NAMES]
    return HostFacts(tuple(facts))


def container_fact(root: HostRoot) -> Fact:
    """Whether the probe runs in a container (its interface is then virtual)."""
    for mark in (root.file(".dockerenv"), root.file("run", ".containerenv")):
        if mark.exists():
            return Fact(CONTAINER, True, str(mark))
    cgroup_path = root.file("proc", "1", "cgroup")
    text = root.read(cgroup_path)
    if text is None:
        return unknown(CONTAINER, str(cgroup_path), "not readable")
    hit = next((m for m in _CONTAINER_MARKS if m in text), None)
    return Fact(CONTAINER, hit is not None, str(cgroup_path), hit or "")


__all__ = ["ROUTE_INTERFACE", "collect", "container_fact"]
