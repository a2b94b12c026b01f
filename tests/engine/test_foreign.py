"""Other engines' statistics over raw samples, and the method record's JSON form."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from probe.engine.foreign import engine_record, librespeed_mbps, ookla_trimmed_mbps, whole_run_mbps
from probe.engine.interface import EngineOptions, FakeEngine
from probe.engine.plan import MeasurePlan
from probe.engine.summary import DirectionObservation
from probe.measurement import Measurement, Method, Sample

RATE_BYTES_S = 12_500_000  # 100 Mbit/s


def ramp(seconds: float = 10.0, step: float = 0.1, slow_until: float = 2.0) -> tuple[Sample, ...]:
    """Half rate until ``slow_until`` (a slow start), then 100 Mbit/s."""
    out, total, t = [Sample(0.0, 0)], 0.0, 0.0
    while t < seconds - 1e-9:
        t = round(t + step, 6)
        total += RATE_BYTES_S * step * (0.5 if t <= slow_until else 1.0)
        out.append(Sample(t, int(total)))
    return tuple(out)


class TestEngineStatistics:
    def test_whole_run_includes_the_ramp(self) -> None:
        assert whole_run_mbps(ramp()) == pytest.approx(90.0, rel=1e-3)

    def test_librespeed_grace_and_factor(self) -> None:
        # Past 2 s the rate is 100; the 1.5 s grace keeps 0.5 s of the slow part.
        expected = (0.5 * 50 + 8 * 100) / 8.5 * 1.06
        assert librespeed_mbps(ramp(), 1.5) == pytest.approx(expected, rel=1e-3)
        assert librespeed_mbps(ramp(seconds=1.0), 1.5) is None

    def test_ookla_drops_the_slow_slices(self) -> None:
        # 4 of 20 slices are slow; the slowest 6 are dropped, so all kept slices run at 100.
        assert ookla_trimmed_mbps(ramp()) == pytest.approx(100.0, rel=1e-3)


def method(**kw: object) -> Method:
    base: dict[str, object] = {
        "engine": "test", "statistic": "s", "streams_down": 6, "streams_up": 3,
        "duration_s": 10.0, "server": "http://x/"}
    return Method(**(base | kw))  # type: ignore[arg-type]


class TestEngineRecord:
    def test_streams_are_judged_per_direction(self) -> None:
        obs_down = DirectionObservation(samples=ramp(), streams_started=6, streams_completed=6)
        obs_up = DirectionObservation(samples=ramp(), streams_started=3, streams_completed=3)
        record = engine_record(
            MeasurePlan(), backend="librespeed", method=method(), measurement_id="r",
            started_at=datetime(2026, 1, 1, tzinfo=UTC), idle_rtts_ms=[1.0] * 10,
            download=obs_down, upload=obs_up)
        assert record.backend == "librespeed"
        assert record.streams == 6
        assert not any(f.endswith("_streams_ended_early") for f in record.flags)
        assert record.download_mbps == pytest.approx(100.0, rel=0.02)


class TestMethodJSON:
    def test_round_trip(self) -> None:
        record = Measurement(id="a", started_at=datetime(2026, 1, 1, tzinfo=UTC), server="s",
                             streams=1, duration_s=10.0, backend="ndt7",
                             method=method(quantity="tcp_payload", engine_upload_mbps=9.5,
                                           notes=("n",)))
        again = Measurement.from_json_dict(json.loads(json.dumps(record.to_json_dict())))
        assert again == record

    def test_old_records_load_without_method(self) -> None:
        data = Measurement(id="a", started_at=datetime(2026, 1, 1, tzinfo=UTC), server="s",
                           streams=4, duration_s=10.0).to_json_dict()
        del data["method"]
        assert Measurement.from_json_dict(data).method is None


class TestFakeEngine:
    async def test_restamps_and_records_plans(self) -> None:
        base = Measurement(id="a", started_at=datetime(2026, 1, 1, tzinfo=UTC), server="s",
                           streams=1, duration_s=1.0)
        fake = FakeEngine("iperf3", [base])
        out = await fake.measure(MeasurePlan(duration_s=5.0, streams=2))
        assert (out.backend, out.streams, out.duration_s) == ("iperf3", 2, 5.0)
        assert len(fake.plans) == 1
        assert EngineOptions(servers=("a", "b")).server == "a"
