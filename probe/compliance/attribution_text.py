"""The words of the attribution rules, in English (``en``) and Simplified Chinese (``zh``).

Written for the customer at the door, not for engineers: what was found, what it means for
the contract, and what to do. Numbers are filled in by the rules in
:mod:`probe.compliance.attribution`; every function returns ``{"en": ..., "zh": ...}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

Texts = dict[str, str]


def _r(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def port_speed(speed_mbps: float, ceiling_mbps: float, plan_mbps: float) -> Texts:
    return {
        "en": (f"Limited by this device's network port: it negotiated {_r(speed_mbps)} Mbit/s "
               f"with the router, so at most {_r(ceiling_mbps)} Mbit/s of data can pass it, "
               f"below the {_r(plan_mbps)} Mbit/s plan. This test cannot show whether the line "
               "delivers the plan."),
        "zh": (f"受本设备网口限制：网口与路由器协商速率为 {_r(speed_mbps)} Mbit/s，"
               f"最多只能通过 {_r(ceiling_mbps)} Mbit/s 的数据，低于 {_r(plan_mbps)} Mbit/s "
               "的签约速率。本次测试无法证明线路是否达到签约速率。"),
    }


PORT_SPEED_FIX: Final = {
    "en": ("Test from a device with a gigabit (1000 Mbit/s) port, with a Cat 5e or better "
           "cable into a gigabit router port; a damaged cable or a 100 Mbit/s router port also "
           "causes this."),
    "zh": "请使用千兆（1000 Mbit/s）网口的设备，用超五类或更好的网线连接路由器的千兆网口后重测；"
          "网线损坏或路由器百兆口也会导致此情况。",
}

HALF_DUPLEX: Final = {
    "en": ("The network port runs half duplex: it cannot send and receive at the same time, "
           "which lowers both directions. This is usually a faulty cable or a forced setting."),
    "zh": ("网口工作在半双工模式：无法同时收发数据，上下行速率都会降低。"
           "通常是网线故障或被强制设置所致。"),
}
HALF_DUPLEX_FIX: Final = {
    "en": "Replace the cable and set the port to auto-negotiation, then test again.",
    "zh": "请更换网线并将网口设为自动协商后重测。",
}


def _signal_words(signal_dbm: float | None) -> tuple[str, str]:
    if signal_dbm is None:
        return "unknown signal strength", "信号强度未知"
    if signal_dbm >= -60:
        return f"a good signal ({signal_dbm:.0f} dBm)", f"信号良好（{signal_dbm:.0f} dBm）"
    if signal_dbm >= -70:
        return f"a fair signal ({signal_dbm:.0f} dBm)", f"信号一般（{signal_dbm:.0f} dBm）"
    return f"a weak signal ({signal_dbm:.0f} dBm)", f"信号较弱（{signal_dbm:.0f} dBm）"


def wifi(signal_dbm: float | None, band: str | None, phy_mbps: float | None,
         plan_mbps: float | None, goodput_share: float) -> Texts:
    sig_en, sig_zh = _signal_words(signal_dbm)
    band_en = f"the {band} band" if band else "an unknown band"
    band_zh = f"{band} 频段" if band else "未知频段"
    en = (f"Measured over Wi-Fi, with {sig_en} on {band_en}. Home Wi-Fi, not the line, is the "
          "bottleneck on most fast connections, so a Wi-Fi result is not evidence of a "
          "shortfall.")
    zh = (f"本次通过 Wi-Fi 测量，{sig_zh}，使用{band_zh}。"
          "在高速宽带上，瓶颈通常是家中 Wi-Fi 而非线路，"
          "因此 Wi-Fi 测得的结果不能作为未达标的证据。")
    if phy_mbps is not None and plan_mbps is not None:
        usable = phy_mbps * goodput_share
        if usable < plan_mbps:
            en += (f" The radio link's rate is {_r(phy_mbps)} Mbit/s; Wi-Fi delivers roughly "
                   f"{goodput_share:.0%} of that as data (about {_r(usable)} Mbit/s), below the "
                   f"{_r(plan_mbps)} Mbit/s plan.")
            zh += (f"无线连接速率为 {_r(phy_mbps)} Mbit/s，实际可用数据速率约为其 "
                   f"{goodput_share:.0%}（约 {_r(usable)} Mbit/s），低于 {_r(plan_mbps)} "
                   "Mbit/s 的签约速率。")
        else:
            en += (f" The radio link's rate is {_r(phy_mbps)} Mbit/s, enough in principle for "
                   f"the {_r(plan_mbps)} Mbit/s plan, but interference and other devices "
                   "share it.")
            zh += (f"无线连接速率为 {_r(phy_mbps)} Mbit/s，理论上足以承载 {_r(plan_mbps)} "
                   "Mbit/s 的签约速率，但会受到干扰和其他设备共享的影响。")
    if band == "2.4 GHz":
        en += " The 2.4 GHz band is slow and crowded."
        zh += "2.4 GHz 频段速率低且拥挤。"
    return {"en": en, "zh": zh}


WIFI_FIX: Final = {
    "en": ("For a result that counts, connect the device to the router with a network cable. "
           "If Wi-Fi must be used: move closer to the router, use the 5 GHz or 6 GHz band."),
    "zh": "如需具有证明力的结果，请用网线将设备直接连接路由器。若必须使用 Wi-Fi："
          "请靠近路由器，并使用 5 GHz 或 6 GHz 频段。",
}


def client_ceiling(direction: str, ceiling_mbps: float, plan_mbps: float) -> Texts:
    zh_dir = "下载" if direction == "download" else "上传"
    return {
        "en": (f"This device itself cannot move data fast enough: its own {direction} "
               f"ceiling (a self-test without the network) is {_r(ceiling_mbps)} Mbit/s, "
               f"below the {_r(plan_mbps)} Mbit/s plan."),
        "zh": (f"本设备自身的处理能力不足：其{zh_dir}上限（不经过网络的自测）为 "
               f"{_r(ceiling_mbps)} Mbit/s，低于 {_r(plan_mbps)} Mbit/s 的签约速率。"),
    }


CLIENT_CPU: Final = {
    "en": ("The measuring program used nearly all the processor time it was allowed during the "
           "test (a whole core, or its CPU quota), so the result may be this device's limit "
           "rather than the line's."),
    "zh": ("测速程序在测试期间几乎用尽了允许使用的处理器时间（一个完整核心或其CPU配额），"
           "结果可能反映的是本设备的极限而非线路速率。"),
}
CLIENT_FIX: Final = {
    "en": "Test again from a faster computer connected by cable, with other programs closed.",
    "zh": "请使用性能更好的电脑，通过网线连接并关闭其他程序后重测。",
}


def cpu_load(share: float, limit: float) -> Texts:
    return {
        "en": (f"The device was busy during the test (processor load {share:.0%}, above the "
               f"{limit:.0%} that test panels such as SamKnows allow)."),
        "zh": (f"测试期间设备较忙（处理器负载 {share:.0%}，"
               f"超过 SamKnows 等测速体系允许的 {limit:.0%}）。"),
    }


CPU_LOAD_FIX: Final = {
    "en": "Close other programs and test again.",
    "zh": "请关闭其他程序后重测。",
}


def cross_traffic(bytes_s: float, limit: float) -> Texts:
    return {
        "en": (f"Other traffic used the connection during the test ({bytes_s * 8 / 1e6:.2f} "
               f"Mbit/s beside the test's own, above the {limit:,.0f} bytes/s test panels "
               "allow), so the test did not have the line to itself."),
        "zh": (f"测试期间有其他流量占用连接（测试之外约 {bytes_s * 8 / 1e6:.2f} Mbit/s，"
               "超过测速体系允许的 "
               f"{limit:,.0f} 字节/秒），测试未能独占线路。"),
    }


CROSS_TRAFFIC_FIX: Final = {
    "en": "Pause downloads, streaming and backups on all devices in the home, then test again.",
    "zh": "请暂停家中所有设备的下载、视频播放和备份后重测。",
}

BEYOND_ACCESS: Final = {
    "en": ("The ISP's own (on-net) test server reaches the contracted speed, but a server "
           "outside its network (off-net) does not: the access line delivers, and the "
           "shortfall lies beyond it (interconnection, transit or the far server)."),
    "zh": "运营商网内测速服务器达到签约速率，但网外服务器未达到：接入线路本身达标，"
          "速率不足发生在接入段之外（网间互联、转接或远端服务器）。",
}
ONNET_ONLY: Final = {
    "en": ("The off-net server reaches the contracted speed but the on-net one does not: the "
           "on-net server or its path may be overloaded; the line itself can deliver."),
    "zh": ("网外服务器达到签约速率而网内服务器未达到：网内服务器或其路径可能过载，"
           "线路本身具备达标能力。"),
}


def offnet_agrees(off_verdict: str) -> Texts:
    return {
        "en": f"The off-net server gives the same picture ({off_verdict}).",
        "zh": f"网外服务器的结果与此一致（{_VERDICT_ZH.get(off_verdict, off_verdict)}）。",
    }


_FACT_WORDS: Final = {
    "link.kind": ("whether the device is wired", "设备是否有线连接"),
    "link.speed_mbps": ("the network port's speed", "网口速率"),
    "client.ceiling_down_mbps": ("this device's own download ceiling", "本设备下载上限"),
    "client.ceiling_up_mbps": ("this device's own upload ceiling", "本设备上传上限"),
    "host.cpu_load_share": ("the device's processor load", "设备处理器负载"),
    "link.cross_traffic_bytes_s": ("other traffic on the connection", "连接上的其他流量"),
}


_SCOPE_WORDS: Final = {"download": ("download", "下载"), "upload": ("upload", "上传"),
                       "latency": ("latency", "时延")}


def line(unknown_names: Sequence[str], scopes: Sequence[str] = ()) -> Texts:
    what_en = " and ".join(_SCOPE_WORDS.get(s, (s, s))[0] for s in scopes) or "the"
    what_zh = "和".join(_SCOPE_WORDS.get(s, (s, s))[1] for s in scopes)
    en = (f"Nothing in the home explains the {what_en} shortfall: the link, this device's "
          "ceiling and other traffic were checked (below) and none limits it. The shortfall "
          "is on the line.")
    zh = (f"家中环境无法解释{what_zh}速率不足：已检查连接、本设备上限和其他流量（见下），均无限制。"
          "速率不足发生在线路上。")
    if unknown_names:
        words = [_FACT_WORDS.get(n, (n, n)) for n in unknown_names]
        en = (f"No cause in the home that could be checked explains the {what_en} shortfall; "
              f"these could not be checked here: {', '.join(w[0] for w in words)}.")
        zh = (f"可检查的家中因素均无法解释{what_zh}速率不足；以下项目在此无法检查："
              f"{'、'.join(w[1] for w in words)}。")
    return {"en": en, "zh": zh}


_VERDICT_ZH: Final = {"pass": "达标", "shortfall": "未达标", "inconclusive": "无法判定"}
VERDICT_WORDS: Final = {
    "pass": {"en": "PASS", "zh": "达标"},
    "shortfall": {"en": "SHORTFALL", "zh": "未达标"},
    "inconclusive": {"en": "INCONCLUSIVE", "zh": "无法判定"},
}

_SUMMARY: Final = {
    ("pass", "none"): ("The line meets the contract in this test.", "本次测试中线路达到合同约定。"),
    ("pass", "beyond-access"): (
        "The access line meets the contract; the shortfall seen off-net lies beyond it.",
        "接入线路达到合同约定；网外测到的速率不足发生在接入段之外。"),
    ("shortfall", "line"): (
        "The line falls short of the contract in this test, and nothing in the home explains "
        "it.", "本次测试中线路未达到合同约定，且家中环境无法解释。"),
    ("inconclusive", "device"): (
        "Inconclusive for the ISP: this device's network port limits the test.",
        "对运营商无法判定：本设备网口限制了测试结果。"),
    ("inconclusive", "home-network"): (
        "Inconclusive for the ISP: the home network (Wi-Fi or other traffic) limits the test.",
        "对运营商无法判定：家庭网络（Wi-Fi 或其他流量）限制了测试结果。"),
    ("inconclusive", "client"): (
        "Inconclusive for the ISP: this device cannot measure as fast as the plan.",
        "对运营商无法判定：本设备的测速能力达不到签约速率。"),
    ("inconclusive", "host"): (
        "Inconclusive for the ISP: the device was busy during the test.",
        "对运营商无法判定：测试期间设备较忙。"),
}


def summary(isp_verdict: str, cause: str) -> Texts:
    found = _SUMMARY.get((isp_verdict, cause))
    if found is None and isp_verdict == "pass":
        found = ("The line meets the contract in this test, even with the limits noted below.",
                 "本次测试中线路达到合同约定，即使存在下列限制因素。")
    if found is None:
        en_v = VERDICT_WORDS.get(isp_verdict, {}).get("en", isp_verdict)
        zh_v = VERDICT_WORDS.get(isp_verdict, {}).get("zh", isp_verdict)
        return {"en": f"Verdict for this test: {en_v}.", "zh": f"本次测试结论：{zh_v}。"}
    return {"en": found[0], "zh": found[1]}
