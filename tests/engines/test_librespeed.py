"""The LibreSpeed engine against LibreSpeed's own PHP backend and against ``probe serve``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from probe.backends import create
from probe.engine.interface import EngineOptions
from probe.engine.plan import MeasurePlan
from probe.engines.librespeed import FLAG_GETIP_FAILED
from probe.errors import ProtocolViolation, ServerUnreachable
from probe.measurement import Measurement
from probe.server import RunningServer, ServerConfig, start_server
from tests.support import free_port, run_cli

PLAN = MeasurePlan(duration_s=3.5, connect_timeout_s=5.0)


@pytest.fixture
async def probe_server() -> AsyncIterator[RunningServer]:
    server = await start_server(ServerConfig(host="127.0.0.1", port=0))
    try:
        yield server
    finally:
        await server.close()


async def measure(*servers: str, plan: MeasurePlan = PLAN) -> Measurement:
    return await create("librespeed", EngineOptions(servers=servers)).measure(plan)


def check_record(record: Measurement) -> None:
    assert record.backend == "librespeed"
    assert record.method is not None
    assert (record.method.streams_down, record.method.streams_up) == (6, 3)
    assert record.download_mbps is not None
    assert record.download_mbps > 10
    assert record.upload_mbps is not None
    assert record.upload_mbps > 10
    assert record.latency is not None
    assert len(record.latency.rtts_ms) == PLAN.ping_count
    # LibreSpeed's own figure is kept beside the probe's; it includes the x1.06 factor.
    assert record.method.engine_download_mbps is not None
    assert record.method.engine_upload_mbps is not None
    assert "upload_counted_at_client" not in record.flags
    assert record.upload is not None
    assert record.upload.counted_at == "server"
    # The record survives its JSON form.
    again = Measurement.from_json_dict(json.loads(json.dumps(record.to_json_dict())))
    assert again.method == record.method


class TestAgainstLibreSpeedPHP:
    """Interop with code nobody here wrote: LibreSpeed's backend run by php-cli."""

    async def test_flat_layout_half_configured(self, php_librespeed: str) -> None:
        record = await measure(php_librespeed)
        check_record(record)
        # getIP.php needs a GeoIP database that is not there: the server is half-configured,
        # the test still runs and the record says so.
        assert FLAG_GETIP_FAILED in record.flags
        assert any("getIP.php failed" in n for n in record.method.notes)  # type: ignore[union-attr]

    async def test_backend_layout(self, php_librespeed_backend_dir: str) -> None:
        record = await measure(php_librespeed_backend_dir)
        check_record(record)
        assert record.method is not None
        assert record.method.server.endswith("/backend/")

    async def test_chooses_the_server_that_answers(self, php_librespeed: str) -> None:
        dead = f"http://127.0.0.1:{free_port()}"
        record = await measure(dead, php_librespeed,
                               plan=MeasurePlan(duration_s=1.0, directions=("down",)))
        assert record.method is not None
        assert record.method.server.startswith(php_librespeed)
        assert record.method.server_selection == "lowest HTTP ping of 2 servers"
        assert any("refused" in n for n in record.method.notes)


class TestAgainstProbeServer:
    async def test_both_layouts_and_getip(self, probe_server: RunningServer) -> None:
        record = await measure(probe_server.url)
        check_record(record)
        assert FLAG_GETIP_FAILED not in record.flags
        assert record.method is not None
        assert any("localhost IPv4 access" in n for n in record.method.notes)

    async def test_nearest_of_two(self, probe_server: RunningServer, php_librespeed: str) -> None:
        record = await measure(php_librespeed, probe_server.url,
                               plan=MeasurePlan(duration_s=1.0, directions=("down",)))
        assert record.method is not None
        assert len([n for n in record.method.notes if "min ping" in n]) == 2


class TestErrors:
    async def test_refused(self) -> None:
        with pytest.raises(ServerUnreachable, match="refused"):
            await measure(f"http://127.0.0.1:{free_port()}")

    async def test_not_a_librespeed_server(self, php_librespeed: str) -> None:
        with pytest.raises(ProtocolViolation, match="not a LibreSpeed server"):
            await measure(php_librespeed + "/nothing-here")

    def test_cli_one_line(self) -> None:
        proc = run_cli(["measure", "--backend", "librespeed", "--server",
                        f"http://127.0.0.1:{free_port()}", "--no-store"])
        assert proc.returncode == 3
        assert proc.stderr.startswith("probe: error: connection refused")
        assert len(proc.stderr.strip().splitlines()) == 1
