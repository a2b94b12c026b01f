"""Environment diagnostics on a fake sysfs/procfs tree and fake tools: every fact says where it
came from, and a missing source yields "unknown", never a crash or a guess."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from probe.environment import (
    CONTAINER,
    LINK_DUPLEX,
    LINK_KIND,
    LINK_SPEED_MBPS,
    ROUTE_INTERFACE,
    WIFI_BAND,
    WIFI_PHY_RATE_MBPS,
    WIFI_SIGNAL_DBM,
)
from probe.hostfacts.collect import collect
from probe.hostfacts.files import HostRoot

IW_LINK = """Connected to 3c:37:86:00:00:01 (on wlp2s0)
\tSSID: home
\tfreq: 5180
\tRX: 123456 bytes (1000 packets)
\tTX: 65432 bytes (500 packets)
\tsignal: -67 dBm
\trx bitrate: 390.0 MBit/s VHT-MCS 8 80MHz VHT-NSS 1
\ttx bitrate: 433.3 MBit/s VHT-MCS 9 80MHz short GI VHT-NSS 1
"""
PROC_WIRELESS = """Inter-| sta-|   Quality        |   Discarded packets               | Missed | WE
 face | tus | link level noise |  nwid  crypt   frag  retry   misc | beacon | 22
wlp2s0: 0000   43.  -67.  -256        0      0      0      0     12        0
"""
PROC_ROUTE = """Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eno1\t00000000\t0100A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0
wlp2s0\t000012C6\t00000000\t0001\t0\t0\t600\t0000FEFF\t0\t0\t0
"""


def fake_host(tmp_path: Path, interfaces: dict[str, dict[str, str | None]]) -> HostRoot:
    """A tree with /sys/class/net/IF/<file> for each given file (None: a directory)."""
    for name, files in interfaces.items():
        base = tmp_path / "sys" / "class" / "net" / name
        base.mkdir(parents=True)
        for rel, text in files.items():
            if text is None:
                (base / rel).mkdir()
            else:
                (base / rel).write_text(text + "\n")
    (tmp_path / "proc" / "net").mkdir(parents=True)
    (tmp_path / "proc" / "net" / "route").write_text(PROC_ROUTE)
    return HostRoot(tmp_path)


def tools(answers: dict[str, str]) -> object:
    """A command runner that knows only the given tools (by argv[0]); others are missing."""
    calls: list[list[str]] = []

    def run(argv: Sequence[str]) -> str | None:
        calls.append(list(argv))
        return answers.get(argv[0])
    run.calls = calls  # type: ignore[attr-defined]
    return run


ETHERNET = {"type": "1", "device": None, "speed": "100", "duplex": "full"}
WIFI = {"type": "1", "device": None, "wireless": None, "speed": "", "duplex": "unknown"}


class TestEthernet:
    def test_speed_and_duplex_come_from_sysfs(self, tmp_path: Path) -> None:
        root = fake_host(tmp_path, {"eno1": ETHERNET})
        facts = collect("http://198.18.0.1:8080", root=root,
                        run=tools({"ip": "198.18.0.1 via 192.168.0.1 dev eno1 src 1.2.3.4\n"}))
        assert facts.value(ROUTE_INTERFACE) == "eno1"
        assert facts.get(ROUTE_INTERFACE).source == "ip -o route get 198.18.0.1"
        assert facts.value(LINK_KIND) == "ethernet"
        assert facts.value(LINK_SPEED_MBPS) == 100
        assert facts.get(LINK_SPEED_MBPS).source == str(tmp_path / "sys/class/net/eno1/speed")
        assert facts.value(LINK_DUPLEX) == "full"
        assert facts.value(WIFI_PHY_RATE_MBPS) is None

    def test_link_down_speed_is_unknown(self, tmp_path: Path) -> None:
        root = fake_host(tmp_path, {"eno1": {**ETHERNET, "speed": "-1", "duplex": "unknown"}})
        facts = collect("http://198.18.0.1", root=root, run=tools({"ip": "x dev eno1\n"}))
        assert facts.value(LINK_SPEED_MBPS) is None
        assert "down" in facts.get(LINK_SPEED_MBPS).note
        assert facts.value(LINK_DUPLEX) is None

    def test_virtual_interface_speed_is_not_a_negotiated_rate(self, tmp_path: Path) -> None:
        root = fake_host(tmp_path, {"veth0": {"type": "1", "speed": "10000", "duplex": "full"}})
        facts = collect("http://198.18.0.1", root=root, run=tools({"ip": "x dev veth0\n"}))
        assert facts.value(LINK_KIND) == "other"
        assert "virtual" in facts.get(LINK_KIND).note
        assert facts.value(LINK_SPEED_MBPS) is None


class TestWifi:
    def test_iw_gives_rate_signal_and_band(self, tmp_path: Path) -> None:
        root = fake_host(tmp_path, {"wlp2s0": WIFI})
        facts = collect("http://198.18.0.1", root=root,
                        run=tools({"ip": "x dev wlp2s0\n", "iw": IW_LINK}))
        assert facts.value(LINK_KIND) == "wifi"
        assert facts.value(WIFI_PHY_RATE_MBPS) == 433.3
        assert facts.value(WIFI_SIGNAL_DBM) == -67.0
        assert facts.value(WIFI_BAND) == "5 GHz"
        assert facts.get(WIFI_BAND).source == "iw dev wlp2s0 link"
        assert facts.value(LINK_SPEED_MBPS) is None

    def test_without_iw_signal_comes_from_proc_and_the_rest_is_unknown(
            self, tmp_path: Path) -> None:
        root = fake_host(tmp_path, {"wlp2s0": WIFI})
        (tmp_path / "proc" / "net" / "wireless").write_text(PROC_WIRELESS)
        facts = collect("http://198.18.0.1", root=root, run=tools({"ip": "x dev wlp2s0\n"}))
        assert facts.value(WIFI_SIGNAL_DBM) == -67.0
        assert facts.get(WIFI_SIGNAL_DBM).source.endswith("proc/net/wireless")
        assert facts.value(WIFI_PHY_RATE_MBPS) is None
        assert "iw is not installed" in facts.get(WIFI_PHY_RATE_MBPS).note
        assert facts.value(WIFI_BAND) is None

    def test_2_4_ghz_band(self, tmp_path: Path) -> None:
        root = fake_host(tmp_path, {"wlan0": WIFI})
        facts = collect("http://198.18.0.1", root=root,
                        run=tools({"ip": "x dev wlan0\n",
                                   "iw": IW_LINK.replace("freq: 5180", "freq: 2437")}))
        assert facts.value(WIFI_BAND) == "2.4 GHz"


class TestDegradesCleanly:
    def test_no_ip_tool_falls_back_to_proc_net_route(self, tmp_path: Path) -> None:
        root = fake_host(tmp_path, {"eno1": ETHERNET, "wlp2s0": WIFI})
        # 198.18.0.1 is inside the wlp2s0 /16 route (longest prefix beats the default).
        facts = collect("http://198.18.0.1", root=root, run=tools({}))
        assert facts.value(ROUTE_INTERFACE) == "wlp2s0"
        assert facts.get(ROUTE_INTERFACE).source.endswith("proc/net/route")
        facts = collect("http://203.0.113.9", root=root, run=tools({}))
        assert facts.value(ROUTE_INTERFACE) == "eno1"

    def test_empty_root_is_all_unknown(self, tmp_path: Path) -> None:
        facts = collect("http://198.18.0.1", root=HostRoot(tmp_path), run=tools({}))
        for name in (ROUTE_INTERFACE, LINK_KIND, LINK_SPEED_MBPS, WIFI_SIGNAL_DBM):
            assert facts.value(name) is None, name
            assert facts.get(name).note, name

    def test_interface_missing_from_sysfs(self, tmp_path: Path) -> None:
        root = fake_host(tmp_path, {})
        facts = collect("http://198.18.0.1", root=root, run=tools({"ip": "x dev eth0\n"}))
        assert facts.value(ROUTE_INTERFACE) == "eth0"
        assert facts.value(LINK_KIND) is None
        assert "does not exist" in facts.get(LINK_KIND).note

    def test_container_marker(self, tmp_path: Path) -> None:
        root = fake_host(tmp_path, {})
        (tmp_path / ".dockerenv").write_text("")
        facts = collect("http://198.18.0.1", root=root, run=tools({}))
        assert facts.value(CONTAINER) is True

    def test_container_from_cgroup(self, tmp_path: Path) -> None:
        root = fake_host(tmp_path, {})
        (tmp_path / "proc" / "1").mkdir()
        (tmp_path / "proc" / "1" / "cgroup").write_text("0::/kubepods/besteffort/pod1\n")
        assert collect("http://x.invalid", root=root, run=tools({})).value(CONTAINER) is True

    @pytest.mark.parametrize("url", ["http://", "http://name.invalid:8080"])
    def test_unresolvable_server(self, tmp_path: Path, url: str) -> None:
        facts = collect(url, root=fake_host(tmp_path, {}), run=tools({}))
        assert facts.value(ROUTE_INTERFACE) is None

    def test_unreadable_files_are_unknown(self, tmp_path: Path) -> None:
        root = fake_host(tmp_path, {"eno1": {"type": "garbage", "device": None}})
        facts = collect("http://198.18.0.1", root=root, run=tools({"ip": "x dev eno1\n"}))
        assert facts.value(LINK_KIND) is None


def test_real_host_never_raises() -> None:
    """On this machine (a container, maybe no sysfs entry): facts, not exceptions."""
    facts = collect("http://127.0.0.1:9")
    assert facts.value(ROUTE_INTERFACE) in (None, "lo")


class TestLoadArithmetic:
    """The probe's own bytes and CPU are taken out before judging the host busy."""

    def test_own_traffic_is_not_cross_traffic(self) -> None:
        from probe.environment import cross_traffic_bytes_s

        payload = 250_000_000
        wire = int(payload * 1514 / 1448 * 1.02)  # frames + ACKs
        assert cross_traffic_bytes_s(wire, payload, 20.0) == 0.0
        other = 4_000_000
        measured = cross_traffic_bytes_s(wire + other + payload // 100, payload, 20.0)
        assert measured is not None
        assert 0 < measured < (other + payload // 100) / 20
        assert cross_traffic_bytes_s(1, 0, 0.0) is None

    def test_unread_tail_of_a_cut_download(self) -> None:
        from probe.environment import cross_traffic_bytes_s, unread_at_cut_bytes

        # 95 Mbit/s at 60 ms loaded RTT: ~1.5 MB may arrive unread after the cut.
        unread = unread_at_cut_bytes(95.0, 60.0)
        assert 1.4e6 < unread < 1.6e6
        payload = 250_000_000
        wire = int(payload * 1514 / 1448) + 1_000_000
        assert cross_traffic_bytes_s(wire, payload, 20.0) == 0.0  # within the 3 % margin
        assert cross_traffic_bytes_s(wire + 9_000_000, payload, 20.0, unread) > 0
        assert unread_at_cut_bytes(None, None) == 0.0

    def test_cpu_share_without_own_time(self) -> None:
        from probe.environment import other_cpu_share

        assert other_cpu_share(busy_s=10.0, total_s=40.0, own_cpu_s=8.0) == 0.05
        assert other_cpu_share(busy_s=1.0, total_s=40.0, own_cpu_s=3.0) == 0.0
        assert other_cpu_share(1.0, 0.0, 0.0) is None
