"""Real servers for the sink tests (see tests/servicekit.py)."""

from tests.servicekit import (  # noqa: F401  (fixtures)
    influx_stub,
    influxdb1,
    victoria_metrics,
    victoria_metrics_factory,
)
