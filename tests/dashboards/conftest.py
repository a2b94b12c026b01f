"""Real servers loaded with the simulated fleet, for the dashboard and alert-rule tests."""

from __future__ import annotations

import pytest

from tests.dashboards.fleet import build
from tests.servicekit import (  # noqa: F401  (fixtures)
    InfluxDB1,
    VictoriaMetrics,
    influxdb1,
    victoria_metrics,
)

DB = "fleet"
FLEET = build()


@pytest.fixture(scope="module")
def influx(influxdb1: InfluxDB1) -> InfluxDB1:  # noqa: F811
    """influxd 1.x holding the fleet in database ``fleet``."""
    influxdb1.query(f"CREATE DATABASE {DB}", method="POST")
    status, body = influxdb1.write(DB, FLEET.lines)
    assert status == 204, body
    return influxdb1


@pytest.fixture(scope="module")
def vm(victoria_metrics: VictoriaMetrics) -> VictoriaMetrics:  # noqa: F811
    """VictoriaMetrics holding the fleet."""
    assert victoria_metrics.write_lines(FLEET.lines) == 204
    victoria_metrics.force_flush()
    return victoria_metrics
