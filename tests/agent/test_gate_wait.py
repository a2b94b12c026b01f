"""The daemon's gate loop (probe.agent.gatekeeper.wait_for_quiet) with scripted counters: each
deferral is counted and kept as an event, the wait ends with go, with skip after max_defer_s,
or with None when the agent is stopped. (The lab runs it against real interface counters:
tests/lab/test_gating.py.)"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from probe.agent.gatekeeper import SAMPLES_PER_WINDOW, wait_for_quiet
from probe.agent.gating import GateDecision, GatingPolicy
from probe.agent.waiting import Sleeper
from probe.hostload import CounterSample, CpuSample
from probe.store import AgentEvent

BUSY_KBPS, QUIET_KBPS = 2000.0, 0.0
POLICY = GatingPolicy(window_s=0.05, cpu_load_max=None, backoff_s=0.01, max_defer_s=60.0)


class ScriptedCounters:
    """A CounterReader whose line carries ``rates_kbps[k]`` during its k-th window (the last
    one repeats); time is the samples' own, one window_s per window."""

    def __init__(self, rates_kbps: list[float]) -> None:
        self.rates, self.reads, self.t_s, self.total = rates_kbps, 0, 0.0, 0

    def counters(self) -> CounterSample:
        window = self.reads // (SAMPLES_PER_WINDOW + 1)
        rate = self.rates[min(window, len(self.rates) - 1)]
        if self.reads % (SAMPLES_PER_WINDOW + 1):
            step_s = POLICY.window_s / SAMPLES_PER_WINDOW
            self.t_s += step_s
            self.total += int(rate * 1e3 / 8 * step_s)
        self.reads += 1
        return CounterSample(self.t_s, self.total, 0)

    def cpu(self) -> CpuSample | None:
        return None


def _wait(reader: ScriptedCounters, *, policy: GatingPolicy = POLICY, stop_after_s: float | None
          = None) -> tuple[GateDecision | None, list[AgentEvent], int]:
    kept: list[AgentEvent] = []
    deferred = [0]

    async def keep(event: AgentEvent) -> None:
        kept.append(event)

    def count() -> None:
        deferred[0] += 1

    async def main() -> GateDecision | None:
        stop = asyncio.Event()
        if stop_after_s is not None:
            asyncio.get_running_loop().call_later(stop_after_s, stop.set)
        return await wait_for_quiet(
            reader, policy, Sleeper(stop, lambda: datetime.now(UTC)),  # type: ignore[arg-type]
            keep=keep, now=lambda: datetime.now(UTC), probe_id="p", subscriber_id="s",
            on_deferred=count)

    return asyncio.run(main()), kept, deferred[0]


def test_busy_line_defers_until_quiet_then_goes() -> None:
    decision, kept, deferred = _wait(ScriptedCounters([BUSY_KBPS, BUSY_KBPS, QUIET_KBPS]))
    assert decision is not None
    assert decision.action == "go"
    assert deferred == 2
    assert [e.kind for e in kept] == ["deferred", "deferred"]
    assert [e.detail["deferrals"] for e in kept] == [1, 2]
    assert {(e.probe_id, e.subscriber_id) for e in kept} == {("p", "s")}


def test_a_line_busy_past_max_defer_is_skipped_and_the_skip_kept() -> None:
    policy = GatingPolicy(window_s=0.05, cpu_load_max=None, backoff_s=0.01, max_defer_s=0.12)
    decision, kept, deferred = _wait(ScriptedCounters([BUSY_KBPS]), policy=policy)
    assert decision is not None
    assert decision.action == "skip"
    assert kept[-1].kind == "skipped"
    assert len(kept) == deferred + 1


def test_a_stop_ends_the_wait() -> None:
    slow = GatingPolicy(window_s=0.05, cpu_load_max=None, backoff_s=30.0, max_defer_s=600.0)
    decision, kept, deferred = _wait(ScriptedCounters([BUSY_KBPS]), policy=slow,
                                     stop_after_s=0.2)
    assert decision is None
    assert deferred == 1
    assert len(kept) == 1
