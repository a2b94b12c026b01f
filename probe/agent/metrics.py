"""Prometheus ``/metrics`` for the agent: last rates, tests run/deferred/skipped/failed,
campaign progress, outbox backlog, next planned test.

Served by a few lines of asyncio on the agent's own event loop: prometheus-client's
``start_http_server`` would add a thread that wakes every 0.5 s (the agent should not wake
between tests), and aiohttp.web would add ~14 MB of resident memory for one GET. Each
connection answers one request and closes. The registry is private, so importing the agent into
another process never exports twice. prometheus-client is the optional extra ``agent``.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from probe.errors import ConfigError

if TYPE_CHECKING:
    from probe.agent.agenda import Slot
    from probe.agent.campaign import CampaignStatus
    from probe.agent.state import AgentState
    from probe.measurement import Measurement

try:
    from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
    from prometheus_client.exposition import CONTENT_TYPE_LATEST

    HAVE_PROMETHEUS = True
except ImportError:  # pragma: no cover - exercised when the extra is missing
    HAVE_PROMETHEUS = False

REQUEST_TIMEOUT_S = 10.0


class AgentMetrics:
    def __init__(self, host: str, port: int) -> None:
        if not HAVE_PROMETHEUS:
            raise ConfigError("metrics.listen needs prometheus-client: pip install "
                              "'broadband-probe[agent]' (or set [metrics] listen = \"\")")
        self.host, self.port = host, port
        self.registry = r = CollectorRegistry()
        self.rate = Gauge("probe_last_rate_mbps", "goodput of the last stored test, Mbit/s",
                          ["direction"], registry=r)
        self.latency = Gauge("probe_last_latency_ms", "idle latency of the last test, ms",
                             registry=r)
        self.last_test = Gauge("probe_last_test_timestamp_seconds",
                               "start of the last stored test (Unix time)", registry=r)
        self.tests = Counter("probe_tests", "tests by outcome since the agent started",
                             ["outcome"], registry=r)
        self.totals = Gauge("probe_tests_total_persisted",
                            "tests by outcome over the agent's life (survives restarts)",
                            ["outcome"], registry=r)
        self.verdicts = Counter("probe_test_verdicts", "per-test contract check results",
                                ["verdict"], registry=r)
        self.campaign_done = Gauge("probe_campaign_measurements",
                                   "campaign measurements that count so far", registry=r)
        self.campaign_needed = Gauge("probe_campaign_measurements_needed",
                                     "campaign measurements needed", registry=r)
        self.campaign_complete = Gauge("probe_campaign_complete", "1 once the campaign is "
                                       "complete", registry=r)
        self.outbox = Gauge("probe_outbox_backlog", "stored tests not yet forwarded",
                            registry=r)
        self.next_test = Gauge("probe_next_test_timestamp_seconds", "when the next test is due",
                               registry=r)
        self.failures = Counter("probe_test_failures", "failed tests by server", ["server"],
                                registry=r)
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        try:
            self._server = await asyncio.start_server(self._serve, self.host, self.port)
        except OSError as exc:
            raise ConfigError(f"metrics.listen: cannot listen on {self.host}:{self.port}: "
                              f"{exc.strerror or exc}") from None

    @property
    def bound_port(self) -> int | None:
        """The port actually bound (port 0 in the config picks a free one)."""
        if self._server is None or not self._server.sockets:
            return None
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), REQUEST_TIMEOUT_S)
            method, _, rest = head.split(b"\r\n", 1)[0].decode("latin-1").partition(" ")
            path = rest.split(" ", 1)[0].split("?", 1)[0]
            if method not in ("GET", "HEAD"):
                status, body, kind = "405 Method Not Allowed", b"GET /metrics\n", "text/plain"
            elif path != "/metrics":
                status, body, kind = "404 Not Found", b"see /metrics\n", "text/plain"
            else:
                status, body, kind = "200 OK", generate_latest(self.registry), \
                    CONTENT_TYPE_LATEST
            writer.write(f"HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: "
                         f"{len(body)}\r\nConnection: close\r\n\r\n".encode("latin-1"))
            if method != "HEAD":
                writer.write(body)
            await writer.drain()
        except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # a scraper that went away or sent garbage: nothing to answer
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    # -- updates from the loop ---------------------------------------------------------------

    def tested(self, m: Measurement, verdict: str | None) -> None:
        self.tests.labels("completed").inc()
        for direction, value in (("download", m.download_mbps), ("upload", m.upload_mbps)):
            if value is not None:
                self.rate.labels(direction).set(value)
        if m.latency_ms is not None:
            self.latency.set(m.latency_ms)
        self.last_test.set(m.started_at.timestamp())
        self.verdicts.labels(verdict or "none").inc()

    def failed(self, server: str) -> None:
        self.tests.labels("failed").inc()
        self.failures.labels(server).inc()

    def counted(self, outcome: str) -> None:
        self.tests.labels(outcome).inc()

    def backlog(self, entries: int) -> None:
        self.outbox.set(entries)

    def planned(self, slot: Slot, state: AgentState, campaign: CampaignStatus | None) -> None:
        self.next_test.set(slot.at.timestamp())
        for outcome, value in (("completed", state.tests_run), ("deferred", state.tests_deferred),
                               ("skipped", state.tests_skipped), ("failed", state.tests_failed)):
            self.totals.labels(outcome).set(value)
        if campaign is not None:
            self.campaign_done.set(campaign.done)
            self.campaign_needed.set(campaign.needed)
            self.campaign_complete.set(int(campaign.complete))
