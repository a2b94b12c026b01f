"""Gating decides go / defer / skip from counter and CPU samples, and annotates records."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from probe.agent.gating import (
    FLAG_CROSS_TRAFFIC,
    OWN_WIRE_PER_PAYLOAD,
    Deferral,
    GatingPolicy,
    annotate,
    cpu_load,
    decide,
    traffic_kbps,
)
from probe.errors import ConfigError
from probe.hostload import CounterSample, CpuSample
from probe.measurement import DirectionResult, Measurement


def window(rate_kbps: float, seconds: float = 5.0, start_s: float = 100.0) -> list[CounterSample]:
    """Counter samples each second carrying ``rate_kbps`` split 90/10 between rx and tx."""
    per_s = rate_kbps * 1e3 / 8
    return [CounterSample(start_s + i, int(10_000 + 0.9 * per_s * i), int(5_000 + 0.1 * per_s * i))
            for i in range(int(seconds) + 1)]


IDLE_CPU = (CpuSample(100, 1000), CpuSample(110, 1100))  # 10 % busy
BUSY_CPU = (CpuSample(100, 1000), CpuSample(180, 1100))  # 80 % busy


class TestRates:
    @pytest.mark.parametrize(("samples", "expected"), [
        ([], None),
        ([CounterSample(0, 0, 0)], None),
        ([CounterSample(0, 0, 0), CounterSample(1, 8000, 0)], 64.0),
        ([CounterSample(0, 0, 0), CounterSample(2, 1000, 1000)], 8.0),
        ([CounterSample(0, 500, 0), CounterSample(1, 100, 0)], None),  # went backwards
        ([CounterSample(1, 0, 0), CounterSample(1, 10, 0)], None),  # no time passed
    ])
    def test_traffic_kbps(self, samples: list[CounterSample], expected: float | None) -> None:
        assert traffic_kbps(samples) == expected

    def test_rate_combines_both_directions(self) -> None:
        assert traffic_kbps(window(500)) == pytest.approx(500, rel=1e-3)

    @pytest.mark.parametrize(("before", "after", "expected"), [
        (CpuSample(0, 0), CpuSample(30, 100), 0.3),
        (CpuSample(0, 0), CpuSample(0, 0), None),
        (None, CpuSample(1, 2), None),
        (CpuSample(50, 100), CpuSample(40, 200), None),
    ])
    def test_cpu_load(self, before: CpuSample | None, after: CpuSample,
                      expected: float | None) -> None:
        assert cpu_load(before, after) == expected


class TestDecide:
    """The table: what the window shows → what happens to the scheduled test."""

    @pytest.mark.parametrize(("rate", "cpu", "action", "reason_part"), [
        (0, IDLE_CPU, "go", ""),
        (63, IDLE_CPU, "go", ""),
        (65, IDLE_CPU, "defer", "cross-traffic 65 kbit/s above 64 kbit/s"),
        (2000, IDLE_CPU, "defer", "cross-traffic 2000 kbit/s"),
        (0, BUSY_CPU, "defer", "CPU load 80% above 30%"),
        (2000, BUSY_CPU, "defer", "; CPU load 80%"),
        (0, None, "go", ""),
    ])
    def test_first_look(self, rate: float, cpu: tuple[CpuSample, CpuSample] | None, action: str,
                        reason_part: str) -> None:
        decision = decide(window(rate), cpu, GatingPolicy(), Deferral(), now_s=105)
        assert decision.action == action
        assert reason_part in decision.reason
        if action == "defer":
            assert decision.retry_in_s == 60
            assert decision.deferral == Deferral(1, 105)
        else:
            assert decision.deferral == Deferral()
        assert decision.cross_traffic_kbps == pytest.approx(rate, abs=0.1)

    def test_cpu_gate_can_be_switched_off(self) -> None:
        decision = decide(window(0), BUSY_CPU, GatingPolicy(cpu_load_max=None), Deferral(), 105)
        assert decision.action == "go"
        assert decision.cpu_load == pytest.approx(0.8)

    def test_unreadable_counters_defer_rather_than_pass(self) -> None:
        samples = [CounterSample(0, 500, 0), CounterSample(1, 100, 0)]
        decision = decide(samples, IDLE_CPU, GatingPolicy(), Deferral(), 1)
        assert decision.action == "defer"
        assert "went backwards" in decision.reason
        assert decision.cross_traffic_kbps is None

    def test_backoff_doubles_up_to_its_cap_then_skips(self) -> None:
        """A line busy for good: 60, 120, 240, 480, 900, 900 ... until two hours have passed."""
        policy = GatingPolicy(max_defer_s=7200)
        state, now, waits = Deferral(), 0.0, []
        while True:
            decision = decide(window(1000, start_s=now), IDLE_CPU, policy, state, now + 5)
            if decision.action == "skip":
                break
            assert decision.action == "defer"
            assert decision.retry_in_s is not None
            waits.append(decision.retry_in_s)
            state = decision.deferral
            now += 5 + decision.retry_in_s
        assert waits[:6] == [60, 120, 240, 480, 900, 900]
        assert sum(waits) <= policy.max_defer_s
        assert decision.deferral.count == len(waits) + 1
        assert "cross-traffic 1000 kbit/s" in decision.reason
        assert f"held back {len(waits) + 1} times" in decision.reason

    def test_quiet_line_after_a_deferral_goes(self) -> None:
        decision = decide(window(0, start_s=200), IDLE_CPU, GatingPolicy(), Deferral(2, 0), 205)
        assert decision.action == "go"
        assert decision.deferral == Deferral(2, 0)  # the caller sees how often it waited

    def test_decision_json(self) -> None:
        data = decide(window(100), None, GatingPolicy(), Deferral(), 105).to_json_dict()
        assert data["action"] == "defer"
        assert data["deferrals"] == 1
        assert data["cross_traffic_kbps"] == pytest.approx(100, abs=0.1)

    @pytest.mark.parametrize(("field", "value", "message"), [
        ("threshold_kbps", -1.0, "gating.threshold_kbps"),
        ("window_s", 0.0, "gating.window_s"),
        ("cpu_load_max", 30.0, "gating.cpu_load_max: must be a share"),
        ("backoff_factor", 0.5, "gating.backoff_factor"),
        ("max_defer_s", float("nan"), "gating.max_defer_s"),
    ])
    def test_bad_policy_names_the_key(self, field: str, value: float, message: str) -> None:
        with pytest.raises(ConfigError, match=message):
            GatingPolicy(**{field: value})


def record(down_bytes: int, up_bytes: int, flags: tuple[str, ...] = ()) -> Measurement:
    def direction(n: int) -> DirectionResult:
        return DirectionResult(goodput_mbps=1.0, transferred_bytes=n, window_start_s=0,
                               window_end_s=1, samples=(), counted_at="client")
    return Measurement(id="r1", started_at=datetime(2026, 11, 29, 3, tzinfo=UTC), server="s",
                       streams=4, duration_s=10, download=direction(down_bytes),
                       upload=direction(up_bytes), flags=flags)


class TestDuringTest:
    """Cross-traffic during a test is what the interface carried beyond the test's own bytes."""

    def test_own_traffic_alone_is_not_cross_traffic(self) -> None:
        rec = record(100_000_000, 10_000_000)
        wire = int(110_000_000 * OWN_WIRE_PER_PAYLOAD)
        out = annotate(rec, CounterSample(0, 0, 0), CounterSample(20, wire, 0), GatingPolicy())
        assert out.cross_traffic_kbps == 0.0
        assert FLAG_CROSS_TRAFFIC not in out.flags

    def test_extra_traffic_is_measured_and_flagged(self) -> None:
        rec = record(100_000_000, 10_000_000, flags=("wifi",))
        wire = int(110_000_000 * OWN_WIRE_PER_PAYLOAD)
        extra = 20 * 2_000_000 // 8  # 2 Mbit/s for 20 s on top (above 5 % of ~46 Mbit/s)
        out = annotate(rec, CounterSample(0, 0, 0), CounterSample(20, wire + extra, 0),
                       GatingPolicy())
        assert out.cross_traffic_kbps == pytest.approx(2000, abs=1)
        # Below 5 % of the test's own rate it is recorded but does not flag the record.
        assert out.flags == ("wifi",)
        bigger = annotate(rec, CounterSample(0, 0, 0),
                          CounterSample(20, wire + 4 * extra, 0), GatingPolicy())
        assert bigger.flags == ("wifi", FLAG_CROSS_TRAFFIC)

    def test_slow_test_is_flagged_at_the_threshold(self) -> None:
        rec = record(1_000_000, 100_000)  # a ~0.5 Mbit/s line: the 64 kbit/s bar applies
        wire = int(1_100_000 * OWN_WIRE_PER_PAYLOAD) + 20 * 100_000 // 8
        out = annotate(rec, CounterSample(0, 0, 0), CounterSample(20, wire, 0), GatingPolicy())
        assert out.cross_traffic_kbps == pytest.approx(100, abs=1)
        assert FLAG_CROSS_TRAFFIC in out.flags

    def test_unreadable_counters_record_nothing(self) -> None:
        out = annotate(record(1, 1), CounterSample(0, 10, 0), CounterSample(20, 5, 0),
                       GatingPolicy())
        assert out.cross_traffic_kbps is None
        assert out.flags == ()

    def test_field_survives_json(self) -> None:
        rec = annotate(record(1000, 1000), CounterSample(0, 0, 0),
                       CounterSample(1, 100_000, 0), GatingPolicy())
        again = Measurement.from_json_dict(rec.to_json_dict())
        assert again.cross_traffic_kbps == rec.cross_traffic_kbps
        assert again.flags == (FLAG_CROSS_TRAFFIC,)
        old = rec.to_json_dict()
        del old["cross_traffic_kbps"]
        assert Measurement.from_json_dict(old).cross_traffic_kbps is None
