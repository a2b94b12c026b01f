"""The agent's configuration as frozen values, with the defaults the docs list.

What each ``[section]`` of the agent's TOML becomes (:class:`AgentConfig` and its parts); the
parser that builds them, naming every problem, is :mod:`probe.agent.config` (which re-exports
these names: import them from there).
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
