"""Builds a running :class:`~probe.agent.daemon.Agent` from a validated config and contract.

What comes from where: the schedule from ``[schedule]`` with the peak hours of the contract's
rule profile (us-fcc testing hours, custom hours, eu-berec ``peak_hours`` when judged by
period) unless ``[schedule] peak_hours`` says otherwise; the campaign from the profile
(de-bnetza, us-fcc) with its own resolved parameters; the adapters (measurement client, SQLite
store, InfluxDB/VictoriaMetrics forwarder, clock reading) imported here, lazily, so a config
error is reported before any heavy import.
"""

from __future__ import annotations

import os
import socket
from datetime import tzinfo
from pathlib import Path
from typing import TYPE_CHECKING

from probe.agent.agenda import Agenda
from probe.agent.campaign import BnetzaCampaign, Campaign, WindowCampaign
from probe.agent.config import DEFAULT_PEAK_HOURS, AgentConfig, ServerConfig
from probe.agent.schedule import SchedulePolicy
from probe.errors import ConfigError

if TYPE_CHECKING:
    from probe.agent.clock import Reading
    from probe.agent.daemon import Agent
    from probe.agent.gating import GatingPolicy
    from probe.compliance.contract import Contract
    from probe.compliance.params import Params
    from probe.engine.plan import MeasurePlan
    from probe.hostfacts.counters import CounterReader
    from probe.measurement import Measurement
    from probe.sinks.forwarder import Forwarder
    from probe.store import SqliteStore


def profile_of(contract: Contract) -> tuple[str, Params]:
    from probe.compliance.check import resolve_profile

    return resolve_profile(contract)


def peak_hours(config: AgentConfig, contract: Contract) -> tuple[float, float]:
    if config.schedule.peak_hours is not None:
        return config.schedule.peak_hours
    name, params = profile_of(contract)
    from probe.compliance.profiles import PROFILES

    hours = PROFILES[name].counting_hours(params)
    if hours is None and name == "eu-berec" and params.choice("period") == "peak":
        hours = params.window("peak_hours")
    return DEFAULT_PEAK_HOURS if hours is None else (float(hours[0]), float(hours[1]))


def schedule_policy(config: AgentConfig, contract: Contract) -> SchedulePolicy:
    s = config.schedule
    return SchedulePolicy(s.interval_s, s.peak_interval_s, s.jitter,
                          peak_hours(config, contract), contract.zone, s.daily_budget_bytes)


def campaign_for(config: AgentConfig, contract: Contract, zone: tzinfo) -> Campaign | None:
    """The campaign the contract's rule profile asks for; None when it has none (or off)."""
    if config.schedule.campaign == "off":
        return None
    name, params = profile_of(contract)
    if name == "de-bnetza":
        return BnetzaCampaign(params, zone, day_start_hour=config.schedule.campaign_day_start_hour,
                              spacing_s=config.schedule.campaign_spacing_min * 60,
                              jitter=config.schedule.jitter)
    if name == "us-fcc":
        hours = params.window("testing_hours")
        assert hours is not None
        return WindowCampaign(name, (float(hours[0]), float(hours[1])),
                              params.count("min_measurements"), zone)
    return None


def judged_directions(contract: Contract) -> tuple[str, ...]:
    return ("download",) if contract.plan.upload is None else ("download", "upload")


def expected_bytes(contract: Contract, duration_s: float) -> int:
    """What one test costs a metered line: the contract's top rate for the test's duration."""
    total = 0.0
    for direction in judged_directions(contract):
        rates = contract.plan.rates(direction)
        if rates is None:
            continue
        top = max((r for r in (rates.maximum_mbps, rates.advertised_mbps,
                               rates.normally_available_mbps, rates.minimum_mbps)
                   if r is not None), default=0.0)
        total += top * 1e6 / 8 * duration_s
    return int(total)


def check_budget(config: AgentConfig, contract: Contract, duration_s: float) -> None:
    """A budget that cannot hold one campaign day is a config error, not a silent failure."""
    budget = config.schedule.daily_budget_bytes
    campaign = campaign_for(config, contract, contract.zone)
    if budget is None or not isinstance(campaign, BnetzaCampaign):
        return
    need = campaign.per_day * expected_bytes(contract, duration_s)
    if need > budget:
        raise ConfigError(f"schedule.daily_budget_mb: {budget / 1e6:g} MB cannot hold the "
                          f"de-bnetza campaign's {campaign.per_day} tests a day (about "
                          f"{need / 1e6:,.0f} MB at the contract's rates); raise it, or set "
                          "schedule.campaign = \"off\"")


def default_probe_id(config: AgentConfig) -> str:
    return config.probe_id or os.environ.get("PROBE_ID") or socket.gethostname()


def build_agent(config: AgentConfig, contract: Contract, *, config_dir: Path,
                rand: object = None) -> Agent:
    """The agent with real adapters (client, SQLite store, forwarder, kernel clock)."""
    import random

    from probe.agent.daemon import Agent, AgentDeps

    # A metered line's budget is judged at the longest a test can take: an adaptive test
    # (the default) stops at 3-15 s, so the ceiling is the conservative cost of one.
    fixed_s = measure_plan(config).duration_s
    check_budget(config, contract, fixed_s)
    tokens = {s.name: _read_token(s, config_dir) for s in config.servers}
    rnd = rand if callable(rand) else random.random
    deps = AgentDeps(
        measure=lambda server: _measure(config, server, tokens[server.name]),
        open_store=lambda: _open_store(config, config_dir),
        make_forwarder=lambda store: _forwarder(config, config_dir, store),
        read_clock=lambda: _read_clock(config.clock.source),
        rand=rnd,
    )
    if config.gating.enabled:
        deps.counter_reader, deps.gating = _gating(config)
    policy = schedule_policy(config, contract)
    agenda = Agenda(policy, campaign_for(config, contract, contract.zone), rnd)
    metrics = None
    if config.metrics_listen:
        from probe.agent.config import listen_address
        from probe.agent.metrics import AgentMetrics

        address = listen_address(config)
        assert address is not None
        metrics = AgentMetrics(*address)
    from probe.agent.alerting import Alerting, build_senders

    probe_id = default_probe_id(config)
    alerting = Alerting(build_senders(config.alerts), plan=contract.plan.id, probe=probe_id)
    return Agent(config, contract, agenda, deps, probe_id=probe_id,
                 directions=judged_directions(contract),
                 expected_bytes=expected_bytes(contract, fixed_s), metrics=metrics,
                 alerting=alerting)


def _gating(config: AgentConfig) -> tuple[CounterReader, GatingPolicy]:
    """The WAN interface's counters (``[gating] interface``, else the route to the first
    server) and the gate's policy; ConfigError when the interface cannot be found."""
    from probe.agent.gating import GatingPolicy
    from probe.hostfacts.counters import CounterReader, route_interface

    g = config.gating
    policy = GatingPolicy(threshold_kbps=g.threshold_kbps, window_s=g.window_s,
                          cpu_load_max=g.cpu_load_max or None, max_defer_s=g.max_defer_s,
                          backoff_s=g.backoff_s)
    interface = g.interface or route_interface(config.servers[0].url)
    return CounterReader(interface), policy


def resolve_path(value: str, config_dir: Path) -> Path:
    """Relative paths in the config file are relative to the file, not the working directory."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else config_dir / path


def _read_token(server: ServerConfig, config_dir: Path) -> str | None:
    if server.token_file is None:
        return None
    path = resolve_path(server.token_file, config_dir)
    try:
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"servers: {server.name}: cannot read token_file {path}: "
                          f"{getattr(exc, 'strerror', None) or exc}") from None
    return token or None


def measure_plan(config: AgentConfig) -> MeasurePlan:
    """The plan of each test: ``[measure] duration_s`` seconds, else (unset or "auto") the
    adaptive length (docs/measurement.md; engines other than native run their 10 s)."""
    from probe.engine.autostop import AutoDuration, parse_auto
    from probe.engine.plan import DEFAULT_STREAMS, MeasurePlan

    streams = DEFAULT_STREAMS if config.measure.streams is None else config.measure.streams
    duration_s = config.measure.duration_s
    if isinstance(duration_s, int | float):
        return MeasurePlan(duration_s=float(duration_s), streams=streams)
    rule = parse_auto(duration_s) if duration_s is not None else None  # checked on load
    return MeasurePlan(auto_duration=rule or AutoDuration(), streams=streams)


async def _measure(config: AgentConfig, server: ServerConfig, token: str | None) -> Measurement:
    """One test with the configured engine (probe.backends: native, librespeed, iperf3 ...)."""
    from probe.backends import create
    from probe.engine.interface import EngineOptions

    engine = create(config.measure.backend, EngineOptions(servers=(server.url,), token=token))
    return await engine.measure(measure_plan(config))


def _open_store(config: AgentConfig, config_dir: Path) -> SqliteStore:
    from probe.store import RetentionPolicy, SqliteStore, default_db_path

    path = resolve_path(config.store.db, config_dir) if config.store.db else default_db_path()
    policy = RetentionPolicy()
    if config.store.max_age_days is not None:
        policy = RetentionPolicy(max_age_days=config.store.max_age_days,
                                 max_bytes=policy.max_bytes)
    if config.store.max_mb is not None:
        policy = RetentionPolicy(max_age_days=policy.max_age_days,
                                 max_bytes=config.store.max_mb << 20)
    return SqliteStore.open(path, policy=policy)


def _forwarder(config: AgentConfig, config_dir: Path, store: SqliteStore) -> Forwarder | None:
    if config.sink is None:
        return None
    from probe.sinks.config import resolve_sink_config
    from probe.sinks.forwarder import Forwarder
    from probe.sinks.plainhttp import HttpLineWriter

    sink = config.sink
    flags: dict[str, str | float | None] = {
        "url": sink.url, "kind": sink.kind, "bucket": sink.bucket, "org": sink.org,
        "token_file": None if sink.token_file is None
        else str(resolve_path(sink.token_file, config_dir)),
        "timeout": sink.timeout_s}
    # The stdlib writer, not influxdb-client: same request and outcomes, ~20 MB less resident.
    return Forwarder(store, HttpLineWriter(resolve_sink_config(flags, os.environ)))


def _read_clock(source: str) -> Reading:
    from probe.hostfacts.clock import read_clock_sync

    return read_clock_sync(source)
