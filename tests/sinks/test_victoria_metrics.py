"""Store-and-forward into a real VictoriaMetrics: values arrive exactly, replays collapse, outages
are survived. Everything is read back through /api/v1/export (VM answers 204 even for lines it
drops, so a 2xx proves nothing)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from probe.sinks.config import SinkConfig
from probe.sinks.forwarder import Forwarder, ForwardPolicy
from probe.sinks.influx import InfluxWriter
from probe.store import SqliteStore
from tests.servicekit import VictoriaMetrics
from tests.sinks.readback import expected_series, exported_series, forward, varied

pytestmark = pytest.mark.services

class TestDelivery:
    """Every stored figure arrives in VictoriaMetrics with the right name, labels and time."""

    def test_values_arrive_value_by_value(
        self, victoria_metrics: VictoriaMetrics, tmp_path: Path
    ) -> None:
        probe_id = f"p-{uuid.uuid4().hex[:8]}"
        measurements = varied(23)
        with SqliteStore.open(tmp_path / "probe.db") as store:
            for m in measurements:
                store.save(m, probe_id=probe_id, subscriber_id="sub-9", verdict="pass")
            report = forward(store, victoria_metrics)
            assert (report.delivered, report.failure) == (23, None)
            assert store.status().backlog == 0
            assert all(r.delivered_at is not None for r in store.history())
        expected = expected_series(
            measurements, {"probe_id": probe_id, "subscriber_id": "sub-9", "verdict": "pass"})
        assert exported_series(victoria_metrics, probe_id) == expected

    def test_a_replay_collapses_to_one_sample_each(
        self, victoria_metrics: VictoriaMetrics, tmp_path: Path
    ) -> None:
        probe_id = f"p-{uuid.uuid4().hex[:8]}"
        measurements = varied(9)
        # Two stores holding the same measurements: the second delivery is a pure replay,
        # as after a crash between the write and the mark.
        for name in ("a.db", "b.db"):
            with SqliteStore.open(tmp_path / name) as store:
                for m in measurements:
                    store.save(m, probe_id=probe_id)
                assert forward(store, victoria_metrics, batch_size=4).delivered == 9
        assert exported_series(victoria_metrics, probe_id) == expected_series(
            measurements, {"probe_id": probe_id})


class TestOutage:
    """With the server down nothing is lost or marked; when it returns, all arrive once."""

    def test_stop_record_start(
        self, victoria_metrics_factory: Callable[[], VictoriaMetrics], tmp_path: Path
    ) -> None:
        vm = victoria_metrics_factory()
        vm.start()
        probe_id = "outage"
        measurements = varied(15)
        with SqliteStore.open(tmp_path / "probe.db") as store:
            for m in measurements[:3]:
                store.save(m, probe_id=probe_id)
            assert forward(store, vm).delivered == 3
            vm.stop()
            for m in measurements[3:]:
                store.save(m, probe_id=probe_id)
            down = forward(store, vm)
            assert down.delivered == 0
            assert down.failure is not None
            assert down.failure.kind == "unavailable"
            assert "cannot reach" in down.failure.message
            status = store.status()
            assert status.backlog == 12
            assert status.last_error == down.failure.message

            # The continuous loop backs off (growing, never zero) while the server is down,
            # and delivers as soon as it is back.
            waits: list[float] = []
            writer = InfluxWriter(SinkConfig.create(kind="victoriametrics", url=vm.url))
            forwarder = Forwarder(store, writer, ForwardPolicy(batch_size=5),
                                  rand=lambda: 0.5)

            def wait(seconds: float) -> None:
                waits.append(seconds)
                if len(waits) == 4:
                    vm.start()

            try:
                forwarder.run(lambda: len(waits) >= 5, wait)
            finally:
                writer.close()
            assert waits[:4] == [0.75, 1.5, 3.0, 6.0]
            assert waits[4] == ForwardPolicy().idle_interval_s
            assert store.status().backlog == 0
        assert exported_series(vm, probe_id) == expected_series(
            measurements, {"probe_id": probe_id})
