"""Prometheus /metrics of a running agent: rates, counters, backlog, next test."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from probe.agent.metrics import AgentMetrics
from probe.alerts import FakeAlertSender
from tests.agent.test_daemon_alerts import BAD, GOOD, run_agent


def _value(body: str, name: str) -> float:
    for line in body.splitlines():
        if line.startswith(name + " ") or (line.startswith(name + "{") and line.split(" ")[0] \
                == name):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics:\n{body}")


def test_metrics_are_served_while_the_agent_runs(tmp_path: Path) -> None:
    metrics = AgentMetrics("127.0.0.1", 0)
    scraped: list[str] = []

    async def scrape() -> None:
        port = metrics.bound_port
        assert port is not None
        async with aiohttp.ClientSession() as session, session.get(
                f"http://127.0.0.1:{port}/metrics") as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain")
            scraped.append(await response.text())

    rates = {"a": [GOOD, BAD, GOOD], "b": [GOOD, GOOD, GOOD]}
    run_agent(tmp_path, rates, runs=3, sender=FakeAlertSender(), metrics=metrics,
              on_test=scrape)
    last = scraped[-1]  # scraped during the last test: two tests done before it
    assert _value(last, 'probe_tests_total{outcome="completed"}') >= 2
    assert _value(last, 'probe_last_rate_mbps{direction="download"}') > 0
    assert _value(last, 'probe_last_rate_mbps{direction="upload"}') > 0
    # No sink configured: everything stored stays queued for a later `probe forward`.
    assert _value(last, "probe_outbox_backlog") >= 2
    assert _value(last, "probe_next_test_timestamp_seconds") > 1.7e9
    assert _value(last, 'probe_tests_total_persisted{outcome="completed"}') >= 2
    assert 'probe_test_verdicts_total{verdict="pass"}' in last
    assert metrics.bound_port is None  # stopped with the agent
