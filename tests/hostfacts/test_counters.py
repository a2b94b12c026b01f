"""The counters adapter reads /sys and /proc (a fake tree here, the real one in the lab)."""

from __future__ import annotations

from pathlib import Path

import pytest

from probe.errors import ConfigError
from probe.hostfacts.counters import CounterReader, route_interface
from probe.hostload import CounterSample, CpuSample

ROUTE = """\
Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
wan\t00000000\t010012C6\t0003\t0\t0\t0\t00000000\t0\t0\t0
lan\t000012C6\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
vpn\t000112C6\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
backup\t000112C6\t00000000\t0001\t0\t0\t50\t00FFFFFF\t0\t0\t0
"""

@pytest.fixture
def root(tmp_path: Path) -> Path:
    for dev, rx, tx in (("wan", 1000, 200), ("lan", 5, 6)):
        stats = tmp_path / "sys/class/net" / dev / "statistics"
        stats.mkdir(parents=True)
        (stats / "rx_bytes").write_text(f"{rx}\n")
        (stats / "tx_bytes").write_text(f"{tx}\n")
    (tmp_path / "proc/net").mkdir(parents=True)
    (tmp_path / "proc/stat").write_text(
        "cpu  100 5 50 800 20 3 2 0 0 0\ncpu0 50 2 25 400 10 1 1 0 0 0\nintr 1 2 3\n")
    (tmp_path / "proc/net/route").write_text(ROUTE)
    return tmp_path


class TestCounterReader:
    def test_reads_counters_at_the_clock(self, root: Path) -> None:
        reader = CounterReader("wan", root=root, clock=lambda: 42.5)
        assert reader.counters() == CounterSample(42.5, 1000, 200)

    def test_cpu_busy_excludes_idle_and_iowait(self, root: Path) -> None:
        reader = CounterReader("wan", root=root)
        assert reader.cpu() == CpuSample(busy=160, total=980)

    def test_missing_interface_names_the_key_and_what_exists(self, root: Path) -> None:
        with pytest.raises(ConfigError, match=r"gating.interface: no network interface 'eth9' "
                                              r"\(this host has: lan, wan\)"):
            CounterReader("eth9", root=root)

    def test_unreadable_cpu_is_none(self, root: Path) -> None:
        (root / "proc/stat").write_text("")
        assert CounterReader("wan", root=root).cpu() is None

    def test_real_loopback_counters_grow(self) -> None:
        reader = CounterReader("lo")
        first = reader.counters()
        assert first.rx_bytes >= 0
        assert reader.cpu() is not None


class TestRouteInterface:
    """The interface comes from probe.hostfacts.route; here only what counters adds to it."""

    def test_from_proc_route_when_ip_is_missing(self, root: Path) -> None:
        assert route_interface("http://198.18.1.7:8080", root=root, run=lambda argv: None) \
            == "vpn"

    def test_from_ip_route_get(self, root: Path) -> None:
        out = "198.19.5.5 via 198.18.0.1 dev wan src 198.18.0.2 uid 0"
        assert route_interface("http://198.19.5.5", root=root, run=lambda argv: out) == "wan"

    def test_no_route_asks_for_the_setting(self, root: Path) -> None:
        (root / "proc/net/route").write_text(ROUTE.splitlines()[0] + "\n")
        with pytest.raises(ConfigError, match=r"set \[gating\] interface"):
            route_interface("http://198.18.0.9", root=root, run=lambda argv: None)

    def test_unresolvable_host_asks_for_the_setting(self, root: Path) -> None:
        with pytest.raises(ConfigError, match=r"cannot find the interface.*set \[gating\]"):
            route_interface("http://no-such-host.invalid", root=root)

    def test_real_loopback_route(self) -> None:
        assert route_interface("http://127.0.0.1:8080") == "lo"
