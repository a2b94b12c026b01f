"""Reading VictoriaMetrics back and building what it must hold, for the sink tests."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from probe.measurement import Measurement
from probe.sinks.config import SinkConfig
from probe.sinks.forwarder import Forwarder, ForwardPolicy, ForwardReport
from probe.sinks.influx import InfluxWriter
from probe.sinks.lineprotocol import FIELDS, MEASUREMENT, timestamp_ns
from probe.store import SqliteStore
from tests.servicekit import VictoriaMetrics
from tests.store.builders import make_measurement

Series = dict[tuple[str, frozenset[tuple[str, str]]], list[tuple[int, float]]]


def forward(store: SqliteStore, vm: VictoriaMetrics, batch_size: int = 7) -> ForwardReport:
    writer = InfluxWriter(SinkConfig.create(kind="victoriametrics", url=vm.url))
    try:
        return Forwarder(store, writer, ForwardPolicy(batch_size=batch_size)).drain()
    finally:
        writer.close()


def expected_series(measurements: Iterable[Measurement], labels: dict[str, str]) -> Series:
    """What VM must hold: one sample per measurement and measured figure, value for value."""
    out: Series = {}
    for m in measurements:
        record = m.to_json_dict()
        tags = dict(labels, server=m.server, backend=m.backend)
        if m.flags:
            tags["flags"] = ",".join(sorted(m.flags))
        for spec in FIELDS:
            if record[spec.source] is not None:
                key = (f"{MEASUREMENT}_{spec.name}", frozenset(tags.items()))
                ts_ms = timestamp_ns(m.started_at) // 1_000_000
                out.setdefault(key, []).append((ts_ms, float(record[spec.source])))
        if labels.get("verdict") in {"pass", "shortfall"}:
            key = (f"{MEASUREMENT}_compliant", frozenset(tags.items()))
            ts_ms = timestamp_ns(m.started_at) // 1_000_000
            out.setdefault(key, []).append((ts_ms, float(labels["verdict"] == "pass")))
    return {k: sorted(v) for k, v in out.items()}


def exported_series(vm: VictoriaMetrics, probe_id: str) -> Series:
    out: Series = {}
    for item in vm.export(f'{{__name__=~"{MEASUREMENT}_.*",probe_id="{probe_id}"}}'):
        metric: dict[str, Any] = dict(item["metric"])
        name = metric.pop("__name__")
        key = (name, frozenset(metric.items()))
        out.setdefault(key, []).extend(zip(item["timestamps"], item["values"], strict=True))
    return {k: sorted((int(t), float(v)) for t, v in vals) for k, vals in out.items()}


def varied(count: int) -> list[Measurement]:
    return [
        make_measurement(i, samples=20, upload=i % 4 != 0,
                         flags=("wifi",) if i % 5 == 0 else (),
                         server="http://10.0.0.1:8080/x y,z=1" if i % 3 == 0 else "srv-a")
        for i in range(count)
    ]
