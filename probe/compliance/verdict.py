"""Verdicts and the reasons behind them, as frozen values with a stable JSON form.

A window verdict (:class:`Evaluation`) is ``shortfall`` when any criterion failed, otherwise
``inconclusive`` when any criterion could not be decided (too few valid measurements, campaign
incomplete, cure period still running), otherwise ``pass``. Every criterion carries a detail
with the numbers behind it. The Clopper–Pearson :class:`Confidence` is reported beside the
literal rule and never changes the verdict.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime
from fractions import Fraction
from typing import Any, Literal

Verdict = Literal["pass", "shortfall", "inconclusive"]
Scope = Literal["download", "upload", "latency", "all"]


def pct(count: int | Fraction, total: int = 1) -> str:
    """``count / total`` as a percentage, cut (not rounded) to 0.1 so 89.97 % never reads 90 %."""
    if total == 0:
        return "– %"
    if type(count) is int:
        # Same floor as the Fraction below, in integers: a fleet report formats hundreds of
        # thousands of these, and Fraction arithmetic was a third of its time.
        tenths = count * 1000 // total
    else:
        tenths = math.floor(Fraction(count) * 1000 / total)
    whole, frac = divmod(tenths, 10)
    return f"{whole} %" if frac == 0 else f"{whole}.{frac} %"


def plural(n: int, word: str) -> str:
    """``word`` for one, ``words`` otherwise: "1 valid test", "2 valid tests"."""
    return word if n == 1 else f"{word}s"


def mbps(value: float | Fraction) -> str:
    """A rate for humans: up to three decimals, no trailing zeros."""
    text = f"{float(value):.3f}".rstrip("0").rstrip(".")
    return f"{text} Mbit/s"


@dataclass(frozen=True, slots=True)
class Criterion:
    """One rule clause for one direction; ``passed`` is None when it could not be decided."""

    id: str
    direction: Scope
    passed: bool | None
    detail: str

    def to_json_dict(self) -> dict[str, Any]:
        return {"id": self.id, "direction": self.direction, "passed": self.passed,
                "detail": self.detail}


@dataclass(frozen=True, slots=True)
class Confidence:
    """Clopper–Pearson interval on the share of failing tests (beside the literal rule)."""

    direction: Scope
    failing: int
    tests: int
    lower: float
    upper: float
    level: float
    failing_means: str

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "direction": self.direction, "failing": self.failing, "tests": self.tests,
            "share": None if self.tests == 0 else self.failing / self.tests,
            "lower": self.lower, "upper": self.upper, "level": self.level,
            "method": "clopper-pearson", "failing_means": self.failing_means,
        }


@dataclass(frozen=True, slots=True)
class CampaignProgress:
    """How far a measurement campaign (de-bnetza) has got, in the subscriber's local calendar."""

    complete: bool
    days_complete: int
    days_needed: int
    measurements: int
    measurements_needed: int
    days: tuple[date, ...]
    detail: str

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "complete": self.complete, "days_complete": self.days_complete,
            "days_needed": self.days_needed, "measurements": self.measurements,
            "measurements_needed": self.measurements_needed,
            "days": [d.isoformat() for d in self.days], "detail": self.detail,
        }


def decide(criteria: tuple[Criterion, ...]) -> Verdict:
    """Shortfall beats inconclusive beats pass; no criteria at all is inconclusive."""
    undecided = not criteria
    for c in criteria:  # a plain loop: a fleet report decides 100 000 of these
        if c.passed is False:
            return "shortfall"
        if c.passed is None:
            undecided = True
    return "inconclusive" if undecided else "pass"


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The verdict for one subscriber over a window of measurements."""

    subscriber_id: str
    profile: str
    plan_id: str
    verdict: Verdict
    criteria: tuple[Criterion, ...]
    confidence: tuple[Confidence, ...]
    valid_measurements: int
    flagged_measurements: int = 0
    campaign: CampaignProgress | None = None
    # (reason, count) for every row of this subscriber that did not count, in the order of
    # probe.compliance.intake.REASONS (duplicate, demo, voided, before_contract_start,
    # flagged, outside_hours); zeros included so scripts can rely on the keys.
    not_counted: tuple[tuple[str, int], ...] = ()

    @property
    def reasons(self) -> tuple[str, ...]:
        """The details that decided the verdict (all of them for a pass)."""
        wanted = {"shortfall": False, "inconclusive": None}.get(self.verdict, True)
        picked = [c for c in self.criteria if c.passed is wanted] or list(self.criteria)
        reasons = [f"{c.direction}: {c.detail}" if c.direction != "all" else c.detail
                   for c in picked]
        if self.flagged_measurements:
            reasons.append(f"{self.flagged_measurements} measurement(s) flagged as limited by "
                           "the local environment were not counted")
        others = [(r, n) for r, n in self.not_counted if n and r != "flagged"]
        if others:
            reasons.append("also not counted: " + ", ".join(f"{n} {r.replace('_', ' ')}"
                                                             for r, n in others))
        return tuple(reasons)

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "subscriber_id": self.subscriber_id, "verdict": self.verdict,
            "profile": self.profile, "plan": self.plan_id,
            "criteria": [c.to_json_dict() for c in self.criteria],
            "confidence": [c.to_json_dict() for c in self.confidence],
            "valid_measurements": self.valid_measurements,
            "flagged_measurements": self.flagged_measurements,
            "not_counted": dict(self.not_counted),
            "campaign": None if self.campaign is None else self.campaign.to_json_dict(),
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True, slots=True)
class TestVerdict:
    """The verdict on one measurement against one contract (the router agent's check)."""

    __test__ = False  # not a pytest test class despite the name

    subscriber_id: str
    profile: str
    verdict: Verdict
    criteria: tuple[Criterion, ...]
    started_at: datetime
    flags: tuple[str, ...] = ()

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "subscriber_id": self.subscriber_id, "verdict": self.verdict,
            "profile": self.profile, "started_at": self.started_at.astimezone(UTC).isoformat(),
            "criteria": [c.to_json_dict() for c in self.criteria], "flags": list(self.flags),
        }
