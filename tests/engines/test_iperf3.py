"""The iperf3 engine against a real iperf3 server on loopback."""

from __future__ import annotations

import pytest

from probe.backends import create
from probe.engine.interface import EngineOptions
from probe.engine.plan import MeasurePlan
from probe.engines.iperf3 import error_for, parse_target, server_timelines
from probe.errors import MeasurementError, MeasurementTimeout, ServerUnreachable, UsageError
from tests.support import free_port

pytestmark = pytest.mark.services


class TestTargets:
    @pytest.mark.parametrize(("text", "expected"), [
        ("10.0.0.1", ("10.0.0.1", 5201)), ("h:5202", ("h", 5202)),
        ("[::1]:7", ("::1", 7)), ("iperf3://h:9/", ("h", 9)), ("::1", ("::1", 5201)),
    ])
    def test_parse(self, text: str, expected: tuple[str, int]) -> None:
        assert parse_target(text) == expected

    @pytest.mark.parametrize("text", ["", "h:x", "h:0", "http://h/x", "a b"])
    def test_bad(self, text: str) -> None:
        with pytest.raises(UsageError):
            parse_target(text)

    def test_error_mapping(self) -> None:
        assert isinstance(error_for("unable to connect to server: Connection refused", "h", 1),
                          ServerUnreachable)
        assert isinstance(error_for("the server is busy running a test. try again later", "h", 1),
                          ServerUnreachable)
        assert isinstance(error_for("control socket has timed out", "h", 1), MeasurementTimeout)
        assert type(error_for("something odd", "h", 1)) is MeasurementError

    def test_coarse_server_intervals_are_not_used(self) -> None:
        one_second = [{"streams": [{"end": float(i), "bytes": 10}]} for i in range(1, 4)]
        assert server_timelines(one_second, 1) is None


class TestAgainstIperf3:
    async def test_both_directions(self, iperf3_server: str) -> None:
        plan = MeasurePlan(duration_s=2.0, streams=2)
        record = await create("iperf3", EngineOptions(servers=(iperf3_server,))).measure(plan)
        assert record.backend == "iperf3"
        assert record.method is not None
        assert record.method.streams_down == 2
        assert record.download_mbps is not None
        assert record.download_mbps > 100
        assert record.upload is not None
        assert record.upload.counted_at == "server"
        assert "upload_counted_at_client" not in record.flags
        # iperf3's own whole-test figure is kept and is of the same order as the probe's.
        assert record.method.engine_download_mbps == pytest.approx(record.download_mbps, rel=0.5)
        assert record.latency is None

    async def test_refused(self) -> None:
        engine = create("iperf3", EngineOptions(servers=(f"127.0.0.1:{free_port()}",)))
        with pytest.raises(ServerUnreachable, match="refused"):
            await engine.measure(MeasurePlan(duration_s=1.0))
