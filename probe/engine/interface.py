"""The engine interface: what every measurement engine (native, LibreSpeed, ndt7, ...) offers.

An engine runs one :class:`~probe.engine.plan.MeasurePlan` against a server and returns a
:class:`~probe.measurement.Measurement` with ``backend`` set to the engine's name and
``method`` saying how it measured. Engines are built by factories from
:class:`EngineOptions`; the registry of names lives in ``probe.backends`` (composition, above
the adapters). :class:`FakeEngine` is shipped here for tests of whatever drives engines.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from probe.engine.plan import MeasurePlan, Progress
from probe.measurement import Measurement

ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """Everything a factory may need; each engine uses the fields that apply to it.

    ``servers``: the server(s) to measure, as the engine spells them (an URL, or
    ``host[:port]`` for iperf3); several let an engine pick the nearest by round trip, none
    means the engine's own discovery (speedtest.net's list, M-Lab's Locate API).
    ``secure``: HTTPS for speedtest-cli. ``consent``: the user agreed that a public service
    (M-Lab) may publish the result together with this client's IP address.
    """

    servers: tuple[str, ...] = ()
    token: str | None = None
    secure: bool = False
    consent: bool = False
    locate_url: str | None = None

    @property
    def server(self) -> str | None:
        return self.servers[0] if self.servers else None


class Engine(Protocol):
    """One measurement engine bound to its options."""

    @property
    def name(self) -> str:
        """The ``backend`` the records it makes carry (``native``, ``librespeed``, ...)."""
        ...

    async def measure(
        self, plan: MeasurePlan, *, on_progress: ProgressCallback | None = None
    ) -> Measurement:
        """Run the plan; raise only :mod:`probe.errors` exceptions."""
        ...


EngineFactory = Callable[[EngineOptions], Engine]


@dataclass
class FakeEngine:
    """An engine that returns prepared records (or raises a prepared error), for tests.

    Each call returns the next of ``records`` re-stamped with this engine's name and the
    plan's streams/duration, and remembers the plan it was given.
    """

    name: str
    records: Sequence[Measurement]
    error: Exception | None = None
    started_at: datetime | None = None
    plans: list[MeasurePlan] = dataclasses.field(default_factory=list)

    async def measure(
        self, plan: MeasurePlan, *, on_progress: ProgressCallback | None = None
    ) -> Measurement:
        self.plans.append(plan)
        if self.error is not None:
            raise self.error
        record = self.records[(len(self.plans) - 1) % len(self.records)]
        if on_progress is not None:
            on_progress(Progress("done", 0.0, 0.0))
        return dataclasses.replace(
            record, backend=self.name, streams=plan.streams, duration_s=plan.duration_s,
            started_at=self.started_at or record.started_at,
        )
