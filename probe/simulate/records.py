"""A simulated fleet's rows as measurement records, the form every other path of the probe takes.

JSON lines (``probe evaluate``), the result store and the line-protocol encoder all take
:class:`~probe.measurement.Measurement` records with their labels; this module builds them
from the fleet's columns (10 s per direction, 4 streams, byte counts that match the rate).
Meant for fleets up to a few hundred thousand rows: Parquet is the bulk path.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from probe.measurement import DirectionResult, LatencyResult, Measurement
from probe.simulate.fleet import Fleet

DURATION_S = 10.0
STREAMS = 4


@dataclass(frozen=True, slots=True)
class SimulatedRecord:
    measurement: Measurement
    probe_id: str
    subscriber_id: str
    contract_ref: str


def _direction(rate: float) -> DirectionResult | None:
    if math.isnan(rate):
        return None
    return DirectionResult(
        goodput_mbps=rate, transferred_bytes=int(rate * 1e6 / 8 * DURATION_S),
        window_start_s=0.0, window_end_s=DURATION_S, samples=(), counted_at="client",
        streams_completed=STREAMS,
    )


def iter_records(fleet: Fleet) -> Iterator[SimulatedRecord]:
    """One record per row, in the frame's order (subscriber, then time)."""
    f = fleet.frame
    columns = zip(
        fleet.ids.tolist(), f["probe_id"].astype(str).tolist(),
        f["subscriber_id"].astype(str).tolist(), f["plan"].astype(str).tolist(),
        f["region"].astype(str).tolist(), f["started_at"].dt.to_pydatetime().tolist(),
        f["download_mbps"].tolist(), f["upload_mbps"].tolist(), f["latency_ms"].tolist(),
        f["flags"].astype(str).tolist(), strict=True,
    )
    for raw_id, probe, sub, plan, region, started, down, up, lat, flags in columns:
        yield SimulatedRecord(
            Measurement(
                # numpy's S16 drops trailing NUL bytes; a UUID needs all 16 back.
                id=str(uuid.UUID(bytes=raw_id.ljust(16, b"\0"))), started_at=_aware(started),
                server=f"https://speed-{region.lower()}.sim.invalid", streams=STREAMS,
                duration_s=DURATION_S, backend="native",
                latency=None if math.isnan(lat) else LatencyResult((), lat, lat * 0.9,
                                                                   lat * 0.05),
                download=_direction(down), upload=_direction(up),
                flags=tuple(flags.split(",")) if flags else (),
            ),
            probe, sub, plan,
        )


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("simulated timestamps are UTC-aware")
    return moment
