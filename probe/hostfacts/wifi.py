"""The Wi-Fi radio's state: PHY rate, signal and band, from ``iw`` or /proc/net/wireless.

``iw dev IF link`` gives the negotiated transmit/receive bitrates, the signal in dBm and the
frequency (hence the band). Without ``iw``, /proc/net/wireless still gives the signal level
(the rates and band then stay unknown). Band edges: 2.4 GHz 2400-2500 MHz, 5 GHz 4900-5900,
6 GHz 5925-7125 (IEEE 802.11 channel plans).
"""

from __future__ import annotations

import re

from probe.environment import (
    WIFI_BAND,
    WIFI_PHY_RATE_MBPS,
    WIFI_RX_RATE_MBPS,
    WIFI_SIGNAL_DBM,
    Fact,
    unknown,
)
from probe.hostfacts.commands import CommandRunner
from probe.hostfacts.files import HostRoot

_SIGNAL = re.compile(r"^\s*signal:\s*(-?\d+(?:\.\d+)?)\s*dBm", re.M)
_TX = re.compile(r"^\s*tx bitrate:\s*(\d+(?:\.\d+)?)\s*MBit/s", re.M)
_RX = re.compile(r"^\s*rx bitrate:\s*(\d+(?:\.\d+)?)\s*MBit/s", re.M)
_FREQ = re.compile(r"^\s*freq:\s*(\d+(?:\.\d+)?)", re.M)
NAMES = (WIFI_PHY_RATE_MBPS, WIFI_RX_RATE_MBPS, WIFI_SIGNAL_DBM, WIFI_BAND)


def band_of(freq_mhz: float) -> str | None:
    if 2400 <= freq_mhz <= 2500:
        return "2.4 GHz"
    if 4900 <= freq_mhz <= 5900:
        return "5 GHz"
    if 5925 <= freq_mhz <= 7125:
        return "6 GHz"
    return None


def wifi_facts(interface: str, root: HostRoot, run: CommandRunner) -> list[Fact]:
    """The four Wi-Fi facts of ``interface``; unknown where no source says."""
    argv = ["iw", "dev", interface, "link"]
    source = " ".join(argv)
    out = run(argv)
    if out is None or "Not connected" in out:
        why = "iw is not installed or failed" if out is None else "iw: not connected"
        facts = [unknown(n, source, why) for n in (WIFI_PHY_RATE_MBPS, WIFI_RX_RATE_MBPS,
                                                    WIFI_BAND)]
        return [*facts, _proc_signal(interface, root, why)]
    facts = []
    for name, pattern in ((WIFI_PHY_RATE_MBPS, _TX), (WIFI_RX_RATE_MBPS, _RX),
                          (WIFI_SIGNAL_DBM, _SIGNAL)):
        match = pattern.search(out)
        facts.append(Fact(name, float(match.group(1)), source) if match
                     else unknown(name, source, "iw did not report it"))
    freq = _FREQ.search(out)
    band = None if freq is None else band_of(float(freq.group(1)))
    facts.append(Fact(WIFI_BAND, band, source, f"{freq.group(1)} MHz") if band and freq
                 else unknown(WIFI_BAND, source, "iw reported no known frequency"))
    if not facts[2].known:
        facts[2] = _proc_signal(interface, root, "iw did not report it")
    return facts


def _proc_signal(interface: str, root: HostRoot, why_iw: str) -> Fact:
    """The signal level column of /proc/net/wireless (dBm on every current driver)."""
    path = root.file("proc", "net", "wireless")
    text = root.read(path)
    if text is None:
        return unknown(WIFI_SIGNAL_DBM, str(path), f"{why_iw}; {path} is not readable")
    for line in text.splitlines()[2:]:
        name, _, rest = line.partition(":")
        if name.strip() != interface:
            continue
        cols = rest.split()
        try:
            level = float(cols[2].rstrip("."))
        except (IndexError, ValueError):
            break
        if level >= 0:  # a driver reporting a relative quality, not dBm
            break
        return Fact(WIFI_SIGNAL_DBM, level, str(path), f"{why_iw}; signal level column")
    return unknown(WIFI_SIGNAL_DBM, str(path), f"{why_iw}; no usable line for {interface}")
