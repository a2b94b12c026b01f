"""Sans-I/O measurement core: the plan, throughput and latency estimators, the summary.

Adapters (``probe.client``) feed it observations stamped with a monotonic clock; it never does
I/O or reads a clock itself, so every estimator is a pure function that tests drive with
synthetic samples.
"""

from probe.engine.plan import DEFAULT_STREAMS, MeasurePlan, Progress
from probe.engine.summary import DirectionObservation, build_measurement
from probe.engine.throughput import ThroughputEstimate, estimate_throughput
from probe.engine.timelines import merge_stream_timelines

__all__ = [
    "DEFAULT_STREAMS",
    "DirectionObservation",
    "MeasurePlan",
    "Progress",
    "ThroughputEstimate",
    "build_measurement",
    "estimate_throughput",
    "merge_stream_timelines",
]
