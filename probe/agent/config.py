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
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from probe.compliance.params import Problem
from probe.engine.autostop import parse_auto
from probe.errors import UsageError

DEFAULT_INTERVAL_MIN = 60.0
DEFAULT_PEAK_INTERVAL_MIN = 20.0
DEFAULT_JITTER = 0.25
# Where the contract's profile names no hours: the evening peak most regulators use
# (Ofcom 20-22 residential, FCC 19-23 [unverified], BEREC's example 19-23).
DEFAULT_PEAK_HOURS = (19.0, 23.0)
DEFAULT_METRICS_LISTEN = ""  # off unless [metrics] listen is set
DEFAULT_GATE_THRESHOLD_KBPS = 64.0  # SamKnows' cross-traffic threshold (issue #9)
DEFAULT_GATE_WINDOW_S = 5.0
DEFAULT_GATE_CPU_LOAD_MAX = 0.3  # FCC MBA: tests held back above 30 % CPU
DEFAULT_GATE_MAX_DEFER_S = 1800.0
DEFAULT_GATE_BACKOFF_S = 60.0
DEFAULT_CLOCK_MAX_WAIT_S = 0.0
ROLES = ("on-net", "off-net", "other")
CAMPAIGN_MODES = ("auto", "off")
CLOCK_SOURCES = ("auto", "adjtimex", "timesyncd", "off")
LOG_FORMATS = ("json", "text")
SINK_KINDS = ("influxdb2", "influxdb1", "victoriametrics")


@dataclass(frozen=True, slots=True)
class ServerConfig:
    url: str
    name: str
    role: str = "other"
    token_file: str | None = None


@dataclass(frozen=True, slots=True)
class MeasureConfig:
    # Seconds per direction; None, "auto" or "auto:N": the adaptive length (3 s to 15 or N s,
    # probe.engine.autostop).
    duration_s: float | str | None = None
    streams: int | None = None
    backend: str = "native"


@dataclass(frozen=True, slots=True)
class StoreConfig:
    db: str | None = None  # None: the probe's default path (probe.store.default_db_path)
    max_age_days: int | None = None
    max_mb: int | None = None


@dataclass(frozen=True, slots=True)
class SinkSettings:
    """``[sink]``: what probe.sinks.config.SinkConfig.create takes (token from a file or env)."""

    url: str
    kind: str = "influxdb2"
    bucket: str | None = None
    org: str | None = None
    token_file: str | None = None
    timeout_s: float = 10.0


@dataclass(frozen=True, slots=True)
class ScheduleConfig:
    interval_s: float = DEFAULT_INTERVAL_MIN * 60
    peak_interval_s: float = DEFAULT_PEAK_INTERVAL_MIN * 60
    jitter: float = DEFAULT_JITTER
    peak_hours: tuple[float, float] | None = None  # None: from the contract's profile
    daily_budget_bytes: int | None = None
    campaign: str = "auto"
    campaign_day_start_hour: float = 12.0
    campaign_spacing_min: float = 12.0


@dataclass(frozen=True, slots=True)
class ClockConfig:
    require_sync: bool = True
    source: str = "auto"
    # After this long unsynchronised the agent tests anyway and flags the records (0: wait).
    max_wait_s: float = DEFAULT_CLOCK_MAX_WAIT_S
    recheck_s: float = 30.0  # how often to read the clock state again while waiting


@dataclass(frozen=True, slots=True)
class GatingConfig:
    """``[gating]``, read by probe.agent.gating (agent-edge) to build its decision."""

    enabled: bool = True
    interface: str | None = None  # None: the interface of the default route
    threshold_kbps: float = DEFAULT_GATE_THRESHOLD_KBPS
    window_s: float = DEFAULT_GATE_WINDOW_S
    cpu_load_max: float = DEFAULT_GATE_CPU_LOAD_MAX
    max_defer_s: float = DEFAULT_GATE_MAX_DEFER_S
    backoff_s: float = DEFAULT_GATE_BACKOFF_S  # first wait after a deferral; doubles each time


@dataclass(frozen=True, slots=True)
class AlertsConfig:
    """``[alerts]``: receivers for probe.alerts (agent-edge); empty means no alerts are sent."""

    alertmanager_urls: tuple[str, ...] = ()
    webhook_urls: tuple[str, ...] = ()
    apprise_urls: tuple[str, ...] = field(default=(), repr=False)  # may hold secrets
    retest: bool = True


@dataclass(frozen=True, slots=True)
class AgentConfig:
    probe_id: str | None
    contract_file: str
    subscriber: str | None
    servers: tuple[ServerConfig, ...]
    measure: MeasureConfig = MeasureConfig()
    store: StoreConfig = StoreConfig()
    sink: SinkSettings | None = None
    schedule: ScheduleConfig = ScheduleConfig()
    clock: ClockConfig = ClockConfig()
    gating: GatingConfig = GatingConfig()
    alerts: AlertsConfig = AlertsConfig()
    metrics_listen: str | None = DEFAULT_METRICS_LISTEN
    log_format: str = "json"


class _Reader:
    """Typed access to one table that records problems instead of raising."""

    def __init__(self, table: Mapping[str, Any], prefix: str, problems: list[Problem],
                 known: tuple[str, ...]) -> None:
        self.table, self.prefix, self.problems = table, prefix, problems
        for key in table:
            if key not in known:
                self.problem(key, f"unknown key (known: {', '.join(known)})")

    def problem(self, key: str, message: str) -> None:
        self.problems.append(Problem(f"{self.prefix}.{key}" if self.prefix else key, message))

    def text(self, key: str, default: str | None = None, *, choices: tuple[str, ...] = (),
             required: bool = False) -> str | None:
        raw = self.table.get(key)
        if raw is None:
            if required:
                self.problem(key, "is required")
            return default
        if not isinstance(raw, str) or not raw.strip():
            self.problem(key, f"must be a non-empty string, got {raw!r}")
            return default
        if choices and raw not in choices:
            self.problem(key, f"must be one of {', '.join(choices)}, got {raw!r}")
            return default
        return raw

    def number(self, key: str, default: float | None, *, low: float = 0.0,
               high: float = math.inf, low_open: bool = False) -> float | None:
        raw = self.table.get(key)
        if raw is None:
            return default
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
            self.problem(key, f"must be a number, got {raw!r}")
            return default
        if raw < low or (low_open and raw == low) or raw > high:
            bound = f"> {low:g}" if low_open else f">= {low:g}"
            upper = "" if high == math.inf else f" and <= {high:g}"
            self.problem(key, f"must be {bound}{upper}, got {raw!r}")
            return default
        return float(raw)

    def flag(self, key: str, default: bool) -> bool:
        raw = self.table.get(key, default)
        if not isinstance(raw, bool):
            self.problem(key, f"must be true or false, got {raw!r}")
            return default
        return raw

    def sub(self, key: str, known: tuple[str, ...]) -> _Reader:
        raw = self.table.get(key, {})
        if not isinstance(raw, Mapping):
            self.problem(key, "must be a table")
            raw = {}
        return _Reader(raw, f"{self.prefix}.{key}" if self.prefix else key, self.problems, known)

    def tables(self, key: str) -> list[Mapping[str, Any]]:
        raw = self.table.get(key, [])
        if not isinstance(raw, list) or not all(isinstance(t, Mapping) for t in raw):
            self.problem(key, f"must be an array of tables ([[{self.prefix}.{key}]])"
                         if self.prefix else f"must be an array of tables ([[{key}]])")
            return []
        return raw


def _url(reader: _Reader, key: str, *, required: bool = True) -> str | None:
    value = reader.text(key, required=required)
    if value is not None and not value.startswith(("http://", "https://")):
        reader.problem(key, f"must be an http:// or https:// URL, got {value!r}")
        return None
    return value


def _servers(root: _Reader, backend: str) -> tuple[ServerConfig, ...]:
    servers: list[ServerConfig] = []
    tables = root.tables("servers")
    for i, table in enumerate(tables):
        r = _Reader(table, f"servers[{i}]", root.problems, ("url", "name", "role", "token_file"))
        # Other engines spell their servers their own way (iperf3: host[:port]).
        url = _url(r, "url") if backend == "native" else r.text("url", required=True)
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


def _measure(root: _Reader) -> MeasureConfig:
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


def _schedule(root: _Reader) -> ScheduleConfig:
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


def _sink(root: _Reader) -> SinkSettings | None:
    if "sink" not in root.table:
        return None
    r = root.sub("sink", ("url", "kind", "bucket", "org", "token_file", "timeout_s"))
    url = _url(r, "url")
    if url is None:
        return None
    return SinkSettings(url, r.text("kind", "influxdb2", choices=SINK_KINDS) or "influxdb2",
                        r.text("bucket"), r.text("org"), r.text("token_file"),
                        r.number("timeout_s", 10.0, low=0.0, low_open=True) or 10.0)


def _alerts(root: _Reader) -> AlertsConfig:
    r = root.sub("alerts", ("alertmanager", "webhook", "apprise", "retest"))
    urls: dict[str, tuple[str, ...]] = {}
    for kind in ("alertmanager", "webhook"):
        found = []
        for i, table in enumerate(r.tables(kind)):
            t = _Reader(table, f"alerts.{kind}[{i}]", root.problems, ("url",))
            url = _url(t, "url")
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
    root = _Reader(doc, "", problems, ("probe", "contract", "servers", "measure", "store", "sink",
                                       "schedule", "clock", "gating", "alerts", "metrics", "log"))
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
