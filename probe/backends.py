"""The measurement engines by name: ``backend name -> factory`` (composition above adapters).

``probe measure --backend``, ``probe crosscheck`` and the agent's config choose an engine by
one of :data:`NAMES`; :func:`create` builds it from :class:`~probe.engine.interface.EngineOptions`.
Adapters are imported only when their engine is built, so ``probe --help`` stays light and a
missing optional extra (speedtest-cli) only matters to the engine that needs it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Final

from probe.engine.interface import Engine, EngineFactory, EngineOptions, ProgressCallback
from probe.engine.plan import MeasurePlan
from probe.errors import UsageError
from probe.measurement import Measurement, Method

NATIVE_STATISTIC: Final = (
    "probe steady-state window mean (warm-up discarded, docs/measurement.md)")


class NativeEngine:
    """The probe's own client against a ``probe serve`` server (``probe.client``)."""

    name = "native"

    def __init__(self, options: EngineOptions) -> None:
        if len(options.servers) != 1:
            raise UsageError("the native backend needs exactly one --server URL")
        self.server = options.servers[0]
        self.token = options.token

    async def measure(self, plan: MeasurePlan, *, on_progress: ProgressCallback | None = None
                      ) -> Measurement:
        from probe.client import run_measurement

        record = await run_measurement(plan, self.server, token=self.token,
                                       on_progress=on_progress)
        rule = plan.auto_duration
        notes = () if rule is None else (
            f"adaptive length: each direction stopped once its rate was known to "
            f"±{rule.tolerance:.0%} (95 % batch-means interval, no drift), within "
            f"{rule.floor_s:g}-{rule.ceiling_s:g} s",)
        method = Method(
            engine="probe native client", statistic=NATIVE_STATISTIC,
            streams_down=plan.streams, streams_up=plan.streams, duration_s=plan.duration_s,
            server=record.server, notes=notes,
        )
        return dataclasses.replace(record, method=method)


def _librespeed(options: EngineOptions) -> Engine:
    from probe.engines.librespeed import LibreSpeedEngine

    return LibreSpeedEngine(options)


def _iperf3(options: EngineOptions) -> Engine:
    from probe.engines.iperf3 import Iperf3Engine

    return Iperf3Engine(options)


def _speedtest(options: EngineOptions) -> Engine:
    from probe.engines.speedtest import SpeedtestEngine

    return SpeedtestEngine(options)


def _ndt7(options: EngineOptions) -> Engine:
    from probe.engines.ndt7 import Ndt7Engine

    return Ndt7Engine(options)


FACTORIES: Final[Mapping[str, EngineFactory]] = {
    "native": NativeEngine,
    "librespeed": _librespeed,
    "iperf3": _iperf3,
    "speedtest": _speedtest,
    "ndt7": _ndt7,
}
NAMES: Final = tuple(FACTORIES)


class FixedLength:
    """An engine without the adaptive-length rule: ``--duration auto`` runs it for the plan's
    default fixed duration (docs/measurement.md, "Adaptive length")."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @property
    def name(self) -> str:
        return self.engine.name

    async def measure(self, plan: MeasurePlan, *, on_progress: ProgressCallback | None = None
                      ) -> Measurement:
        return await self.engine.measure(plan.fixed_length(), on_progress=on_progress)


def create(name: str, options: EngineOptions) -> Engine:
    """The engine called ``name``; UsageError naming the choices for an unknown one."""
    factory: Callable[[EngineOptions], Engine] | None = FACTORIES.get(name)
    if factory is None:
        raise UsageError(f"unknown backend {name!r} (choose from {', '.join(NAMES)})")
    engine = factory(options)
    return engine if name == "native" else FixedLength(engine)
