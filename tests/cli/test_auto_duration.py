"""``--duration auto`` from the option to the record: parsing, the plan, other engines, the agent,
the record's new fields (and old records without them), the human summary, and one real run.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
from collections.abc import Iterator

import pytest

from probe.agent.config import AgentConfig, MeasureConfig, parse_config
from probe.agent.wiring import measure_plan
from probe.backends import FixedLength, create
from probe.cli import argtypes
from probe.cli.measure_cmd import build_plan, render_summary
from probe.engine.autostop import AutoDuration
from probe.engine.interface import EngineOptions, FakeEngine
from probe.engine.plan import DEFAULT_DURATION_S, MeasurePlan
from probe.measurement import Measurement
from tests.support import run_cli, serve_process
from tests.test_measurement import make_record


@pytest.fixture(scope="module")
def serve_url() -> Iterator[str]:
    with serve_process() as url:
        yield url


class TestOption:
    def test_auto_or_seconds(self) -> None:
        assert argtypes.duration_or_auto("auto") == AutoDuration()
        assert argtypes.duration_or_auto(" AUTO ") == AutoDuration()
        assert argtypes.duration_or_auto("auto:10") == AutoDuration(ceiling_s=10)
        assert argtypes.duration_or_auto("4") == 4.0
        with pytest.raises(argparse.ArgumentTypeError, match="or auto"):
            argtypes.duration_or_auto("automatic")
        with pytest.raises(argparse.ArgumentTypeError, match="between 1 and 30"):
            argtypes.duration_or_auto("31")
        for bad in ("auto:2", "auto:31", "auto:x", "auto:nan"):
            with pytest.raises(argparse.ArgumentTypeError, match="ceiling"):
                argtypes.duration_or_auto(bad)

    def test_bad_value_is_one_usage_line(self) -> None:
        proc = run_cli(["measure", "--server", "http://127.0.0.1:9", "--duration", "soon"])
        assert proc.returncode == 2
        assert "Traceback" not in proc.stderr
        assert "or auto" in proc.stderr

    def test_plan_from_options(self) -> None:
        args = argparse.Namespace(duration=AutoDuration(), streams=2, direction="down")
        plan = build_plan(args)
        assert plan.auto_duration == AutoDuration()
        assert plan.duration_s == 15.0  # the deadline is the ceiling
        assert plan.directions == ("down",)
        fixed = build_plan(argparse.Namespace(duration=4.0, streams=2, direction="both"))
        assert fixed.auto_duration is None
        assert fixed.duration_s == 4.0


class TestPlan:
    def test_auto_sets_the_ceiling_and_fixed_length_drops_it(self) -> None:
        plan = MeasurePlan(auto_duration=AutoDuration(floor_s=4, ceiling_s=20))
        assert plan.duration_s == 20
        assert plan.fixed_length() == MeasurePlan()
        assert plan.fixed_length().duration_s == DEFAULT_DURATION_S
        fixed = MeasurePlan(duration_s=5)
        assert fixed.fixed_length() is fixed

    def test_other_engines_get_their_fixed_length(self) -> None:
        fake = FakeEngine("iperf3", [make_record()])
        engine = FixedLength(fake)
        assert engine.name == "iperf3"
        asyncio.run(engine.measure(MeasurePlan(auto_duration=AutoDuration())))
        assert fake.plans == [MeasurePlan()]

    def test_create_wraps_only_foreign_engines(self) -> None:
        assert not isinstance(create("native", EngineOptions(servers=("http://x:1",))),
                              FixedLength)
        assert isinstance(create("iperf3", EngineOptions(servers=("127.0.0.1:5201",))),
                          FixedLength)


def _doc(duration: object) -> dict[str, object]:
    return {"contract": {"file": "contract.toml"},
            "servers": [{"url": "http://198.18.0.1:8080", "name": "a"},
                        {"url": "http://198.18.0.2:8080", "name": "b"}],
            "measure": {"duration_s": duration}}


def _config(measure: MeasureConfig) -> AgentConfig:
    return AgentConfig(probe_id="p", contract_file="c.toml", subscriber=None, servers=(),
                       measure=measure)


class TestAgent:
    @pytest.mark.parametrize("duration", [None, "auto"])
    def test_auto_is_the_default(self, duration: object) -> None:
        config = _config(MeasureConfig(duration))  # type: ignore[arg-type]
        plan = measure_plan(config)
        assert plan.auto_duration == AutoDuration()
        assert plan.duration_s == 15.0  # what the metered budget check charges a test

    def test_auto_with_a_ceiling(self) -> None:
        plan = measure_plan(_config(MeasureConfig("auto:10")))
        assert plan.auto_duration == AutoDuration(ceiling_s=10)
        assert plan.duration_s == 10.0

    @pytest.mark.parametrize(("value", "message"), [
        ("auto:99", "ceiling must be between"), ("soon", "auto"), ("auto:x", "ceiling")])
    def test_config_refuses_nonsense(self, value: str, message: str) -> None:
        problems = parse_config(_doc(value))
        assert isinstance(problems, list)
        assert any(message in str(p) and "duration_s" in str(p) for p in problems), problems

    def test_config_accepts_auto_forms(self) -> None:
        for value, want in (("auto", "auto"), ("AUTO:12", "auto:12"), (7, 7.0)):
            config = parse_config(_doc(value))
            assert isinstance(config, AgentConfig), config
            assert config.measure.duration_s == want

    def test_a_number_is_a_fixed_length(self) -> None:
        config = _config(MeasureConfig(6.0, 2))
        plan = measure_plan(config)
        assert plan.auto_duration is None
        assert (plan.duration_s, plan.streams) == (6.0, 2)


class TestRecord:
    def test_new_fields_round_trip(self) -> None:
        record = make_record()
        assert record.download is not None
        record = dataclasses.replace(
            record, duration_auto=True, duration_s=15.0,
            download=dataclasses.replace(record.download, stop_reason="steady",
                                         stopped_at_s=3.6, rate_precision=0.0021))
        data = json.loads(json.dumps(record.to_json_dict()))
        assert data["duration_auto"] is True
        assert data["download"]["stop_reason"] == "steady"
        assert data["download"]["stopped_at_s"] == 3.6
        assert Measurement.from_json_dict(data) == record

    def test_old_records_load_with_defaults(self) -> None:
        data = make_record().to_json_dict()
        del data["duration_auto"]
        for name in ("download", "upload"):
            for key in ("stop_reason", "stopped_at_s", "rate_precision"):
                del data[name][key]
        again = Measurement.from_json_dict(data)
        assert again.duration_auto is False
        assert again.download is not None
        assert again.download.stop_reason is None
        assert again.download.stopped_at_s is None

    def test_summary_says_why_it_stopped(self) -> None:
        record = make_record()
        assert record.download is not None
        assert record.upload is not None
        record = dataclasses.replace(
            record, duration_auto=True, duration_s=15.0,
            download=dataclasses.replace(record.download, stop_reason="steady",
                                         stopped_at_s=3.6, rate_precision=0.0021),
            upload=dataclasses.replace(record.upload, stop_reason="ceiling",
                                       stopped_at_s=15.0, rate_precision=0.034))
        text = render_summary(record)
        assert "auto, at most 15 s per direction" in text
        assert "stopped at 3.6 s: rate known to ±1 %, rate known to ±0.21 %" in text
        assert "stopped at 15.0 s: not known to ±1 % by the ceiling" in text
        assert "60.0 MB" in text  # the bytes the direction used


class TestRealRun:
    def test_auto_reports_how_each_direction_ended(self, serve_url: str) -> None:
        # Loopback is CPU-bound and its rate wanders, so it often runs to the ceiling: a short
        # one keeps this quick (the lab test shows the early stop on a shaped line).
        rule = AutoDuration(floor_s=2.0, ceiling_s=4.0)
        engine = create("native", EngineOptions(servers=(serve_url,)))
        record = asyncio.run(engine.measure(MeasurePlan(auto_duration=rule, streams=2))
                             ).to_json_dict()
        assert record["duration_auto"] is True
        assert any("adaptive length" in note for note in record["method"]["notes"])
        assert record["duration_s"] == 4.0
        for name in ("download", "upload"):
            details = record[name]
            assert details["stop_reason"] in ("steady", "ceiling")
            assert 2.0 <= details["stopped_at_s"] <= 4.5
            assert details["elapsed_s"] >= details["stopped_at_s"]
            assert record[f"{name}_bytes"] > 0
            if details["stop_reason"] == "steady":
                assert details["rate_precision"] <= 0.01

    def test_fixed_runs_say_duration(self, serve_url: str) -> None:
        proc = run_cli(["measure", "--server", serve_url, "--duration", "1", "--direction", "down",
                        "--json", "--no-store"])
        assert proc.returncode == 0, proc.stderr
        record = json.loads(proc.stdout)
        assert record["duration_auto"] is False
        assert record["download"]["stop_reason"] == "duration"
        assert record["download"]["rate_precision"] is None
