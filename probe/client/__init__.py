"""The measurement client adapter: runs a :class:`~probe.engine.plan.MeasurePlan` against a
measurement server over HTTP/1.1 and hands the observations to the engine.

Public surface: :func:`run_measurement` (stable; see ``probe/client/runner.py``).
"""

from probe.client.runner import run_measurement

__all__ = ["run_measurement"]
