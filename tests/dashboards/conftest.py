"""Real servers for the dashboard query tests (see tests/servicekit.py)."""

from tests.servicekit import influxdb1, victoria_metrics  # noqa: F401  (fixtures)
