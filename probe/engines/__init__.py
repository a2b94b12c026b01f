"""Adapters for other measurement engines: LibreSpeed, speedtest-cli (Ookla), M-Lab ndt7, iperf3.

Each module speaks one engine's protocol, samples cumulative payload bytes like the native
client does, and hands the raw observations to ``probe.engine.foreign`` for the record, so every
engine yields the same :class:`~probe.measurement.Measurement` with ``backend`` and ``method``
set. Foreign exceptions are translated into :mod:`probe.errors` here. This package never imports
another adapter (``probe.client`` included); ``probe.backends`` names the engines.
"""
