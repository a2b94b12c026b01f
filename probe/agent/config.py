"""The agent's configuration: frozen values parsed from its TOML document, every problem named.

:func:`parse_config` takes the parsed TOML mapping (file I/O and line numbers are the CLI's job,
see probe.cli.agent_cmd) and returns an :class:`AgentConfig` or the list of
:class:`~probe.compliance.params.Problem` (dotted key + message) it found, so one run reports
every mistake. The documented example is ``deploy/agent.example.toml``; the sections are

``[probe]`` identity; ``[contract]`` the subscriber's contract file; ``[[servers]]`` at least two
measurement servers (on-net and off-net, so a retest can go elsewhere); ``[measure]`` the test
itself; ``[store]`` and ``[sink]`` store-and-forward; ``[schedule]`` intervals, peak density,
data budget, campaign; ``[clock]`` the synchronisation rule; ``[gating]`` cross-traffic and CPU
gate (read by probe.agent.gating); ``[alerts]`` receivers (read by probe.alerts); ``[metrics]``
the Prometheus listener.

The values are :mod:`probe.agent.configvalues`' (re-exported here: import them from this
module); tables are read through :class:`probe.agent.tomltable.TableReader`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from probe.agent.configvalues import (
    CAMPAIGN_MODES,
    CLOCK_SOURCES,
    DEFAULT_CLOCK_MAX_WAIT_S,
    DEFAULT_GATE_BACKOFF_S,
    DEFAULT_GATE_CPU_LOAD_MAX,
    DEFAULT_GATE_MAX_DEFER_S,
    DEFAULT_GATE_THRESHOLD_KBPS,
    DEFAULT_GATE_WINDOW_S,
    DEFAULT_INTERVAL_MIN,
    DEFAULT_JITTER,
    DEFAULT_METRICS_LISTEN,
    DEFAULT_PEAK_HOURS,
    DEFAULT_PEAK_INTERVAL_MIN,
    LOG_FORMATS,
    ROLES,
    SINK_KINDS,
    AgentConfig,
    AlertsConfig,
    ClockConfig,
    GatingConfig,
    MeasureConfig,
    ScheduleConfig,
    ServerConfig,
    SinkSettings,
    StoreConfig,
)
from probe.agent.tomltable import TableReader
from probe.compliance.params import Problem
from probe.engine.autostop import parse_auto
from probe.errors import UsageError

__all__ = [
    "CAMPAIGN_MODES",
    "CLOCK_SOURCES",
    "DEFAULT_CLOCK_MAX_WAIT_S",
    "DEFAULT_GATE_BACKOFF_S",
    "DEFAULT_GATE_CPU_LOAD_MAX",
    "DEFAULT_GATE_MAX_DEFER_S",
    "DEFAULT_GATE_THRESHOLD_KBPS",
    "DEFAULT_GATE_WINDOW_S",
    "DEFAULT_INTERVAL_MIN",
    "DEFAULT_JITTER",
    "DEFAULT_METRICS_LISTEN",
    "DEFAULT_PEAK_HOURS",
    "DEFAULT_PEAK_INTERVAL_MIN",
    "LOG_FORMATS",
    "ROLES",
    "SINK_KINDS",
    "AgentConfig",
    "AlertsConfig",
    "ClockConfig",
    "GatingConfig",
    "MeasureConfig",
    "ScheduleConfig",
    "ServerConfig",
    "SinkSettings",
    "StoreConfig",
    "listen_address",
    "parse_config",
]


def _servers(root: TableReader, backend: str) -> tuple[ServerConfig, ...]:
    servers: list[ServerConfig] = []
    tables = root.tables("servers")
    for i, table in enumerate(tables):
        r = TableReader(table, f"servers[{i}]", root.problems,
                        ("url", "name", "role", "token_file"))
        # Other engines spell their servers their own way (iperf3: host[:port]).
        url = r.http_url("url") if backend == "native" else r.text("url", required=True)
        name = r.text("name", f"server-{i + 1}")
        role = r.text("role", "other", choices=ROLES)
        if url is not None:
            servers.append(ServerConfig(url.rstrip("/"), name or "", role or "other",
                                        r.text("token_file")))
    if len(tables) < 2:
        root.problem("servers", f"needs at least 2 [[servers]] (on-net and off-net, so a failed "
                     f"test can be retested elsewhere), got {len(tables)}")
    names = [s.name for s in servers]
    for name in {n for n in names if names.count(n) > 1}:
        root.problem("servers", f"server name {name!r} is used twice")
    return tuple(servers)


def _measure(root: TableReader) -> MeasureConfig:
    r = root.sub("measure", ("duration_s", "streams", "backend"))
    duration: float | str | None = None
    raw = r.table.get("duration_s")
    if isinstance(raw, str):
        try:
            auto = parse_auto(raw)
        except UsageError as exc:
            auto = None
            r.problem("duration_s", str(exc))
        else:
            if auto is None:
                r.problem("duration_s", f"must be seconds (1-30), \"auto\" or \"auto:N\" "
                          f"(ceiling N s), got {raw!r}")
        duration = raw.strip().lower() if auto is not None else None
    elif raw is not None:
        duration = r.number("duration_s", None, low=1.0, high=30.0)
    streams = r.number("streams", None, low=1, high=32)
    if streams is not None and streams != int(streams):
        r.problem("streams", f"must be a whole number, got {streams:g}")
    return MeasureConfig(duration, None if streams is None else int(streams),
                         r.text("backend", "native") or "native")


def _schedule(root: TableReader) -> ScheduleConfig:
    r = root.sub("schedule", ("interval_min", "peak_interval_min", "jitter", "peak_hours",
                              "daily_budget_mb", "campaign", "campaign_day_start_hour",
                              "campaign_spacing_min"))
    # Down to 6 s: short schedules are for labs and tests; a line tested more often than every
    # few minutes measures mostly its own tests.
    interval = r.number("interval_min", DEFAULT_INTERVAL_MIN, low=0.1, high=7 * 24 * 60)
    peak = r.number("peak_interval_min", DEFAULT_PEAK_INTERVAL_MIN, low=0.1, high=7 * 24 * 60)
    jitter = r.number("jitter", DEFAULT_JITTER, low=0.0, high=0.5)
    hours: tuple[float, float] | None = None
    raw = r.table.get("peak_hours")
    if raw is not None:
        ok = (isinstance(raw, list) and len(raw) == 2
              and all(isinstance(x, int | float) and not isinstance(x, bool) for x in raw))
        if not ok or not 0 <= raw[0] < raw[1] <= 24:
            r.problem("peak_hours", f"must be [start_hour, end_hour] with 0 <= start < end <= 24"
                      f" (local time), got {raw!r}")
        else:
            hours = (float(raw[0]), float(raw[1]))
    budget = r.number("daily_budget_mb", None, low=0.0, low_open=True)
    return ScheduleConfig(
        interval_s=(interval or DEFAULT_INTERVAL_MIN) * 60,
        peak_interval_s=(peak or DEFAULT_PEAK_INTERVAL_MIN) * 60,
        jitter=DEFAULT_JITTER if jitter is None else jitter,
        peak_hours=hours,
        daily_budget_bytes=None if budget is None else int(budget * 1e6),
        campaign=r.text("campaign", "auto", choices=CAMPAIGN_MODES) or "auto",
        campaign_day_start_hour=r.number("campaign_day_start_hour", 12.0, high=23.0) or 0.0,
        campaign_spacing_min=r.number("campaign_spacing_min", 12.0, low=1.0, high=60.0) or 12.0,
    )


def _sink(root: TableReader) -> SinkSettings | None:
    if "sink" not in root.table:
        return None
    r = root.sub("sink", ("url", "kind", "bucket", "org", "token_file", "timeout_s"))
    url = r.http_url("url")
    if url is None:
        return None
    return SinkSettings(url, r.text("kind", "influxdb2", choices=SINK_KINDS) or "influxdb2",
                        r.text("bucket"), r.text("org"), r.text("token_file"),
                        r.number("timeout_s", 10.0, low=0.0, low_open=True) or 10.0)


def _alerts(root: TableReader) -> AlertsConfig:
    r = root.sub("alerts", ("alertmanager", "webhook", "apprise", "retest"))
    urls: dict[str, tuple[str, ...]] = {}
    for kind in ("alertmanager", "webhook"):
        found = []
        for i, table in enumerate(r.tables(kind)):
            t = TableReader(table, f"alerts.{kind}[{i}]", root.problems, ("url",))
            url = t.http_url("url")
            if url is not None:
                found.append(url)
        urls[kind] = tuple(found)
    apprise = r.table.get("apprise", [])
    if not isinstance(apprise, list) or not all(isinstance(u, str) and u for u in apprise):
        r.problem("apprise", "must be a list of Apprise URLs (strings)")
        apprise = []
    return AlertsConfig(urls["alertmanager"], urls["webhook"], tuple(apprise),
                        r.flag("retest", True))


def parse_config(doc: Mapping[str, Any]) -> AgentConfig | list[Problem]:
    """The agent's configuration from a parsed TOML document, or every problem found."""
    problems: list[Problem] = []
    root = TableReader(doc, "", problems, ("probe", "contract", "servers", "measure", "store",
                                           "sink", "schedule", "clock", "gating", "alerts",
                                           "metrics", "log"))
    probe = root.sub("probe", ("id",))
    contract = root.sub("contract", ("file", "subscriber"))
    contract_file = contract.text("file", required=True)
    measure = _measure(root)
    servers = _servers(root, measure.backend)
    store = root.sub("store", ("db", "max_age_days", "max_mb"))
    age = store.number("max_age_days", None, low=1.0)
    size = store.number("max_mb", None, low=1.0)
    clock = root.sub("clock", ("require_sync", "source", "max_wait_min"))
    gate = root.sub("gating", ("enabled", "interface", "threshold_kbps", "window_s",
                               "cpu_load_max", "max_defer_s", "backoff_s"))
    metrics = root.sub("metrics", ("listen",))
    listen = metrics.table.get("listen", DEFAULT_METRICS_LISTEN)
    if not isinstance(listen, str) or (listen and not _host_port(listen)):
        metrics.problem("listen", f"must be \"host:port\" (\"\" disables), got {listen!r}")
        listen = None
    log = root.sub("log", ("format",))
    config = AgentConfig(
        probe_id=probe.text("id"),
        contract_file=contract_file or "",
        subscriber=contract.text("subscriber"),
        servers=servers,
        measure=measure,
        store=StoreConfig(store.text("db"), None if age is None else int(age),
                          None if size is None else int(size)),
        sink=_sink(root),
        schedule=_schedule(root),
        clock=ClockConfig(clock.flag("require_sync", True),
                          clock.text("source", "auto", choices=CLOCK_SOURCES) or "auto",
                          (clock.number("max_wait_min", 0.0) or 0.0) * 60),
        gating=GatingConfig(
            gate.flag("enabled", True), gate.text("interface"),
            _or(gate.number("threshold_kbps", None, low=0.0), DEFAULT_GATE_THRESHOLD_KBPS),
            _or(gate.number("window_s", None, low=0.1, high=300), DEFAULT_GATE_WINDOW_S),
            _or(gate.number("cpu_load_max", None, low=0.0, high=1.0), DEFAULT_GATE_CPU_LOAD_MAX),
            _or(gate.number("max_defer_s", None, low=0.0), DEFAULT_GATE_MAX_DEFER_S),
            _or(gate.number("backoff_s", None, low=1.0, high=3600), DEFAULT_GATE_BACKOFF_S)),
        alerts=_alerts(root),
        metrics_listen=listen or None,
        log_format=log.text("format", "json", choices=LOG_FORMATS) or "json",
    )
    return problems or config


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


def _host_port(text: str) -> tuple[str, int] | None:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        return None
    return host.strip("[]"), int(port)


def listen_address(config: AgentConfig) -> tuple[str, int] | None:
    """``[metrics] listen`` as (host, port); None when disabled."""
    return None if not config.metrics_listen else _host_port(config.metrics_listen)
