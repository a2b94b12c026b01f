"""The guided check's steps, wired together: diagnostics (probe.hostfacts), the client's
ceiling (self-test), the measurement(s) (probe.client), the per-test verdict and the
attribution (probe.compliance). ``probe check`` renders and stores what this returns.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource

from probe.cli.guided import Steps
from probe.compliance.attribution import FieldCheck, attribute
from probe.compliance.check import check_measurement
from probe.compliance.contract import Contract
from probe.environment import (
    CLIENT_CEILING_DOWN_MBPS,
    CLIENT_CEILING_UP_MBPS,
    CPU_LOAD_SHARE,
    CROSS_TRAFFIC_BYTES_S,
    LINK_KIND,
    LINK_SPEED_MBPS,
    ROUTE_INTERFACE,
    WIFI_BAND,
    WIFI_SIGNAL_DBM,
    Fact,
    HostFacts,
    cross_traffic_bytes_s,
    other_cpu_share,
    unknown,
    unread_at_cut_bytes,
)
from probe.errors import ConfigError
from probe.hostfacts.counters import CounterReader
from probe.hostfacts.files import HostRoot
from probe.hostload import CounterSample, CpuSample
from probe.measurement import Measurement


def run_check(args: argparse.Namespace, contract: Contract) -> FieldCheck:
    steps = Steps.for_args(args.json)
    try:
        facts = _diagnose(args, steps)
        watch = LoadWatch.start(facts)
        record = _measure(args, args.server[0], "on-net" if len(args.server) > 1 else "", steps)
        facts = facts.with_facts(watch.stop(record))
        offnet_record = (None if len(args.server) < 2
                         else _measure(args, args.server[1], "off-net", steps))
        steps.begin("verdict", "verdict")
        verdict = check_measurement(contract, record, profile=args.profile)
        offnet = None if offnet_record is None else (
            offnet_record, check_measurement(contract, offnet_record, profile=args.profile))
        steps.finish("verdict", "verdict", f"{verdict.verdict} (this test, {verdict.profile})")
        attribution = attribute(contract.plan, verdict, record, facts, offnet)
        steps.finish("attribution", "attribution",
                     f"{attribution.isp_verdict} for the ISP ({attribution.cause})")
        elapsed = steps.elapsed_s()
    finally:
        steps.close()
    return FieldCheck(contract, facts, record, verdict, attribution, offnet, elapsed)


def _diagnose(args: argparse.Namespace, steps: Steps) -> HostFacts:
    from probe.cli.selftest import ceiling_facts
    from probe.cli.store_cmd import resolve_db
    from probe.hostfacts import ceiling
    from probe.hostfacts.collect import collect
    from probe.hostfacts.files import HostRoot

    steps.begin("env", "environment")
    facts = collect(args.server[0], root=HostRoot.from_env())
    steps.finish("env", "environment", describe_link(facts))
    if facts.value(ROUTE_INTERFACE) == "lo":
        # The server is on this host: the test itself is a loopback self-test.
        why = "the server is on this host, so the test itself measures this device"
        return facts.with_facts(ceiling.ceiling_facts(None, "loopback self-test", why))
    if args.self_test == "skip":
        return facts.with_facts(ceiling.ceiling_facts(None, "loopback self-test",
                                                      "skipped (--self-test skip)"))
    steps.begin("ceiling", "this device's ceiling")
    cache_path = resolve_db(args.db).parent / ceiling.CACHE_NAME
    more, ran = ceiling_facts(cache_path, refresh=args.self_test == "refresh")
    facts = facts.with_facts(more)
    down, up = facts.number(CLIENT_CEILING_DOWN_MBPS), facts.number(CLIENT_CEILING_UP_MBPS)
    shown = ("unknown" if down is None or up is None
             else f"{down:,.0f} down / {up:,.0f} up Mbit/s")
    steps.finish("ceiling", "this device's ceiling",
                 f"{shown} ({'self-test just run' if ran else 'cached self-test'})")
    return facts


class LoadWatch:
    """The interface counters and CPU times around the test (probe.hostfacts.counters)."""

    def __init__(self, reader: CounterReader | None, why: str) -> None:
        self.reader = reader
        self.why = why
        self.before: tuple[CounterSample, CpuSample | None, float] | None = None

    @classmethod
    def start(cls, facts: HostFacts) -> LoadWatch:
        interface = facts.value(ROUTE_INTERFACE)
        if not isinstance(interface, str):
            return cls(None, "the interface towards the server is unknown")
        if interface == "lo":
            return cls(None, "the server is on this host: its own traffic and CPU would count")
        root = HostRoot.from_env().path
        try:
            reader = CounterReader(interface, root=root)
            watch = cls(reader, "")
            watch.before = (reader.counters(), reader.cpu(), _own_cpu_s())
        except ConfigError as exc:
            return cls(None, str(exc))
        return watch

    def stop(self, record: Measurement) -> list[Fact]:
        source = "/sys/class/net/IF/statistics, /proc/stat"
        if self.reader is None or self.before is None:
            return [unknown(CROSS_TRAFFIC_BYTES_S, source, self.why),
                    unknown(CPU_LOAD_SHARE, source, self.why)]
        source = (f"{self.reader.root / 'sys/class/net' / self.reader.interface / 'statistics'}"
                  f" and {self.reader.root / 'proc/stat'}, before and after the test")
        try:
            after = self.reader.counters()
        except ConfigError as exc:
            return [unknown(CROSS_TRAFFIC_BYTES_S, source, str(exc)),
                    unknown(CPU_LOAD_SHARE, source, str(exc))]
        counters, cpu, own_s = self.before
        seconds = after.t_s - counters.t_s
        moved = after.rx_bytes - counters.rx_bytes + after.tx_bytes - counters.tx_bytes
        own_payload = (record.download.transferred_bytes if record.download else 0) + \
            (record.upload.transferred_bytes if record.upload else 0)
        down = record.download
        unread = unread_at_cut_bytes(None if down is None else down.goodput_mbps,
                                     None if down is None else down.loaded_latency_ms)
        cross = cross_traffic_bytes_s(moved, own_payload, seconds, unread)
        facts = [Fact(CROSS_TRAFFIC_BYTES_S, None if cross is None else round(cross), source,
                      f"{moved:,} bytes in {seconds:.1f} s, of which the test's own transfers "
                      f"account for about {own_payload * 1514 / 1448 + unread:,.0f}")]
        cpu_after = self.reader.cpu()
        if cpu is None or cpu_after is None:
            facts.append(unknown(CPU_LOAD_SHARE, source, "/proc/stat is not readable"))
            return facts
        tick = os.sysconf("SC_CLK_TCK")
        share = other_cpu_share((cpu_after.busy - cpu.busy) / tick,
                                (cpu_after.total - cpu.total) / tick, _own_cpu_s() - own_s)
        facts.append(Fact(CPU_LOAD_SHARE, None if share is None else round(share, 3), source,
                          "all CPUs, without this probe's own CPU time"))
        return facts


def _own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def describe_link(facts: HostFacts) -> str:
    """One line on the link towards the server, e.g. "eno1: ethernet 1000 Mbit/s full"."""
    iface = facts.value(ROUTE_INTERFACE) or "interface unknown"
    kind = facts.value(LINK_KIND) or "kind unknown"
    text = f"{iface}: {kind}"
    if kind == "ethernet":
        speed = facts.value(LINK_SPEED_MBPS)
        text += f" {speed} Mbit/s" if speed is not None else " (speed unknown)"
    elif kind == "wifi":
        signal, band = facts.value(WIFI_SIGNAL_DBM), facts.value(WIFI_BAND)
        text += f", signal {signal if signal is not None else '?'} dBm, {band or 'band ?'}"
    note = facts.get(LINK_KIND).note
    return f"{text} ({note})" if note else text


def _measure(args: argparse.Namespace, url: str, label: str, steps: Steps) -> Measurement:
    from probe.cli.measure_cmd import build_plan, read_token
    from probe.client import run_measurement

    plan = build_plan(args)
    token = read_token(args.token_file)
    record = asyncio.run(run_measurement(plan, url, token=token,
                                         on_progress=steps.measurement_progress(label)))
    suffix = f" ({label})" if label else ""
    if record.latency is not None:
        steps.finish(f"{label}:latency", f"idle latency{suffix}",
                     f"{record.latency.median_ms:.1f} ms")
    for key, result in (("download", record.download), ("upload", record.upload)):
        if result is None:
            continue
        loaded = ("" if result.loaded_latency_ms is None
                  else f", loaded latency {result.loaded_latency_ms:.1f} ms")
        steps.finish(f"{label}:{key}", f"{key}{suffix}",
                     f"{result.goodput_mbps:.2f} Mbit/s{loaded}")
    return record
