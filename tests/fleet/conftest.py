"""Real servers for the fleet tests (see tests/servicekit.py)."""

from tests.servicekit import (  # noqa: F401  (fixtures)
    influxdb1,
    victoria_metrics,
    victoria_metrics_factory,
)
