"""The stdlib line writer the agent uses: same request, same outcome classes as InfluxWriter,
proven on a real VictoriaMetrics (read back) and on scripted stand-ins for the failures."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from probe.sinks.config import SinkConfig
from probe.sinks.forwarder import Forwarder, ForwardPolicy
from probe.sinks.plainhttp import HttpLineWriter
from probe.store import SqliteStore
from tests.servicekit import InfluxStub, StubRequest, VictoriaMetrics
from tests.sinks.readback import expected_series, exported_series, varied
from tests.support import free_port

StubFactory = Callable[[Callable[[StubRequest], tuple[int, str]]], InfluxStub]


@pytest.mark.services
def test_forwarder_with_the_plain_writer_delivers_every_point(
    tmp_path: Path, victoria_metrics: VictoriaMetrics
) -> None:
    measurements = varied(23)
    with SqliteStore.open(tmp_path / "probe.db") as store:
        for m in measurements:
            store.save(m, probe_id="plain-http", subscriber_id="S-1", contract_ref="p")
        writer = HttpLineWriter(SinkConfig.create(kind="victoriametrics",
                                                  url=victoria_metrics.url))
        try:
            report = Forwarder(store, writer, ForwardPolicy(batch_size=5)).drain()
        finally:
            writer.close()
        assert report.failure is None
        assert report.delivered == 23
        assert store.status().backlog == 0
    labels = {"probe_id": "plain-http", "subscriber_id": "S-1", "contract_ref": "p"}
    assert exported_series(victoria_metrics, "plain-http") == expected_series(measurements,
                                                                              labels)


@pytest.mark.services
def test_a_server_restart_between_writes_is_bridged_by_one_reconnect(
    victoria_metrics_factory: Callable[[], VictoriaMetrics]
) -> None:
    vm = victoria_metrics_factory()
    vm.start()
    writer = HttpLineWriter(SinkConfig.create(kind="victoriametrics", url=vm.url))
    try:
        assert writer.write(['broadband_x,probe_id=re v=1 1700000000000000000']) is None
        vm.stop()
        vm.start()  # same port; the writer's kept-alive connection is now dead
        assert writer.write(['broadband_x,probe_id=re v=2 1700000001000000000']) is None
    finally:
        writer.close()
    series = vm.export('broadband_x_v{probe_id="re"}')
    assert sorted(v for s in series for v in s["values"]) == [1, 2]


@pytest.mark.parametrize(("status", "kind"), [
    (401, "auth"), (403, "auth"), (400, "rejected"), (422, "rejected"), (413, "too_large"),
    (404, "config"), (429, "unavailable"), (503, "unavailable"),
])
def test_statuses_are_classified_like_the_influx_writer(
    influx_stub: StubFactory, status: int, kind: str
) -> None:
    stub = influx_stub(lambda _req: (status, json.dumps({"message": "nope s3cret-token"})))
    config = SinkConfig.create(kind="influxdb2", url=stub.url, bucket="b", org="o",
                               token="s3cret-token")
    writer = HttpLineWriter(config)
    try:
        failure = writer.write(["m v=1 1"])
    finally:
        writer.close()
    assert failure is not None
    assert failure.kind == kind
    assert failure.status == status
    assert f"HTTP {status}" in failure.message
    assert "s3cret-token" not in failure.message  # redacted, even when the server echoes it
    [request] = stub.requests
    assert request.path == "/api/v2/write"
    assert request.query == {"org": "o", "bucket": "b", "precision": "ns"}
    assert request.headers["Authorization"] == "Token s3cret-token"
    assert request.body == "m v=1 1"


def test_influxdb1_and_victoriametrics_requests(influx_stub: StubFactory) -> None:
    stub = influx_stub(lambda _req: (204, ""))
    for config in (SinkConfig.create(kind="influxdb1", url=stub.url, bucket="probe/autogen",
                                     token="user:pw"),
                   SinkConfig.create(kind="victoriametrics", url=stub.url)):
        writer = HttpLineWriter(config)
        assert writer.write(["m v=1 1", "m v=2 2"]) is None
        writer.close()
    first, second = stub.requests
    assert first.query["bucket"] == "probe/autogen"
    assert first.headers["Authorization"] == "Token user:pw"
    assert "Authorization" not in second.headers
    assert second.body == "m v=1 1\nm v=2 2"


def test_nothing_listening_is_unavailable() -> None:
    port = free_port()
    writer = HttpLineWriter(SinkConfig.create(kind="victoriametrics",
                                              url=f"http://127.0.0.1:{port}"))
    failure = writer.write(["m v=1 1"])
    assert failure is not None
    assert failure.kind == "unavailable"
    assert "connection refused" in failure.message
    assert "check that the server is running and reachable; nothing was lost" in failure.message
