"""What the agent remembers across restarts: counters, rhythm, today's data use, campaign end.

A frozen value with a JSON form; the daemon keeps it in the store's ``agent_state`` table
(migration 2) under :data:`STATE_KEY`. Campaign *progress* is not kept here: it is recomputed
from the stored measurements themselves (probe.agent.campaign), so it cannot disagree with
them after a crash between storing a test and storing this state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from datetime import date, datetime
from typing import Any

from probe.measurement import parse_utc

STATE_KEY = "agent"


@dataclass(frozen=True, slots=True)
class AgentState:
    tests_run: int = 0
    tests_deferred: int = 0
    tests_skipped: int = 0
    tests_failed: int = 0
    tests_unsynchronised: int = 0
    failures_in_row: int = 0
    last_test_at: datetime | None = None
    next_regular_at: datetime | None = None
    not_before: datetime | None = None  # retry backoff after a failed or deferred test
    budget_day: date | None = None
    budget_used_bytes: int = 0
    campaign_started_at: datetime | None = None
    campaign_completed_at: datetime | None = None
    last_skip_reason: str | None = None

    def used_on(self, day: date) -> int:
        return self.budget_used_bytes if self.budget_day == day else 0

    def spend(self, day: date, transferred_bytes: int) -> AgentState:
        return replace(self, budget_day=day, budget_used_bytes=self.used_on(day)
                       + transferred_bytes)

    def to_json_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in asdict(self).items():
            out[key] = value.isoformat() if isinstance(value, datetime | date) else value
        return out

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> AgentState:
        """Tolerant of keys from newer or older agents (unknown ones are ignored)."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = data.get(f.name)
            if raw is None:
                continue
            if f.name == "budget_day":
                values[f.name] = date.fromisoformat(str(raw))
            elif f.name.endswith("_at") or f.name == "not_before":
                values[f.name] = parse_utc(raw)
            else:
                values[f.name] = raw
        return cls(**values)
