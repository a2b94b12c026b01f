"""When the client's CPU may have set a direction's figure: one CPU, a quota, or throttling."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from probe.cli.measure_cmd import render_summary
from probe.engine.plan import MeasurePlan
from probe.engine.summary import (
    CLIENT_CPU_LIMIT_SHARE,
    CPU_THROTTLED_SHARE,
    FLAG_CPU_LIMITED,
    DirectionObservation,
    build_measurement,
    cpu_limited,
)
from probe.measurement import Measurement, Sample


def observed(**cpu: Any) -> DirectionObservation:
    samples = tuple(Sample(t / 10, int(125_000 * t)) for t in range(31))  # 10 Mbit/s, 3 s
    return DirectionObservation(samples=samples, streams_started=1, streams_completed=1,
                                elapsed_s=3.0, **cpu)


class TestJudgment:
    @pytest.mark.parametrize(("cpu", "limited"), [
        # No quota known: one CPU (the client's Python runs on one) is the ceiling.
        ({"client_cpu_s": 2.75}, True),
        ({"client_cpu_s": 2.6}, False),
        ({"client_cpu_s": 2.6, "cpu_allowance": 2.0}, False),  # two CPUs: still one for us
        # Under a quota of 10 % of a core, 0.09 CPU is all it may use.
        ({"client_cpu_s": 0.29, "cpu_allowance": 0.1}, True),
        ({"client_cpu_s": 0.26, "cpu_allowance": 0.1}, False),
        ({"client_cpu_s": 0.3, "cpu_allowance": 0.1, "cpu_periods": 31,
          "cpu_throttled_periods": 31, "cpu_throttled_s": 2.6}, True),
        # A quota shared with the group's other processes: throttled, own share low.
        ({"client_cpu_s": 0.15, "cpu_allowance": 0.5, "cpu_periods": 30,
          "cpu_throttled_periods": 9, "cpu_throttled_s": 0.4}, True),
        ({"client_cpu_s": 0.15, "cpu_allowance": 0.5, "cpu_periods": 30,
          "cpu_throttled_periods": 8, "cpu_throttled_s": 0.4}, False),
        # Keeping up with a 100 Mbit/s upload at 10 %: bursts spent the quota in 13 %.
        ({"client_cpu_s": 0.14, "cpu_allowance": 0.1, "cpu_periods": 52,
          "cpu_throttled_periods": 7, "cpu_throttled_s": 0.58}, False),
        # Throttled once while connecting, then waiting on a slow line.
        ({"client_cpu_s": 0.02, "cpu_allowance": 0.1, "cpu_periods": 8,
          "cpu_throttled_periods": 1, "cpu_throttled_s": 0.05}, False),
        ({"client_cpu_s": None, "cpu_allowance": 0.1, "cpu_periods": 0,
          "cpu_throttled_periods": 0}, False),
        ({"client_cpu_s": None}, False),
    ])
    def test_limited(self, cpu: dict[str, float | int | None], limited: bool) -> None:
        assert cpu_limited(observed(**cpu)) is limited

    def test_thresholds_are_the_documented_ones(self) -> None:
        assert (CLIENT_CPU_LIMIT_SHARE, CPU_THROTTLED_SHARE) == (0.9, 0.3)

    def test_no_elapsed_time_judges_only_throttling(self) -> None:
        obs = DirectionObservation(samples=(), streams_started=1, streams_completed=1,
                                   client_cpu_s=1.0, elapsed_s=0.0)
        assert cpu_limited(obs) is False


class TestRecord:
    """The record carries the flag and what explains it, and survives JSON."""

    def build(self, obs: DirectionObservation) -> Measurement:
        return build_measurement(
            MeasurePlan(streams=1, duration_s=3.0), measurement_id="m1",
            started_at=datetime(2026, 11, 29, 9, tzinfo=UTC), server="http://127.0.0.1:1",
            idle_rtts_ms=[1.0], download=obs, upload=None)

    def test_quota_run_is_flagged_and_explained(self) -> None:
        m = self.build(observed(client_cpu_s=0.3, cpu_allowance=0.1, cpu_periods=31,
                                cpu_throttled_periods=30, cpu_throttled_s=2.6))
        assert FLAG_CPU_LIMITED in m.flags
        details = m.to_json_dict()["download"]
        assert {k: details[k] for k in ("client_cpu_s", "cpu_allowance", "cpu_periods",
                                        "cpu_throttled_periods", "cpu_throttled_s")} == {
            "client_cpu_s": 0.3, "cpu_allowance": 0.1, "cpu_periods": 31,
            "cpu_throttled_periods": 30, "cpu_throttled_s": 2.6}
        back = Measurement.from_json_dict(m.to_json_dict())
        assert back == m

    def test_old_record_without_the_fields_loads_as_none(self) -> None:
        data = self.build(observed(client_cpu_s=0.3)).to_json_dict()
        for key in ("client_cpu_s", "cpu_allowance", "cpu_periods", "cpu_throttled_periods",
                    "cpu_throttled_s"):
            del data["download"][key]
        old = Measurement.from_json_dict(data)
        assert old.download is not None
        assert (old.download.client_cpu_s, old.download.cpu_allowance,
                old.download.cpu_periods) == (None, None, None)

    def test_human_summary_says_why(self) -> None:
        flagged = self.build(observed(client_cpu_s=0.3, cpu_allowance=0.1, cpu_periods=31,
                                      cpu_throttled_periods=30, cpu_throttled_s=2.6))
        assert ("client used 0.10 CPU of 0.10 allowed, throttled in 30 of 31 quota periods "
                "(2.6 s)") in render_summary(flagged)
        one_cpu = self.build(observed(client_cpu_s=2.85, cpu_allowance=2.0))
        assert "client used 0.95 CPU of 2.00 allowed\n" in render_summary(one_cpu)
        assert "client used" not in render_summary(self.build(observed(client_cpu_s=0.3)))
