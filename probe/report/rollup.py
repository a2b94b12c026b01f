"""达标率 per group: shares of compliant subscribers and of compliant tests, with intervals.

- **Subscribers**: a subscriber is compliant when its window verdict is ``pass``. The share is
  passes / (passes + shortfalls); inconclusive subscribers (too few tests, campaign not done,
  cure period running) are counted and shown but are in neither numerator nor denominator —
  they are not evidence either way.
- **Tests**, per direction: tests the rule counted that reached its primary bar / tests the
  rule counted (see :mod:`probe.report.summary`).

Grouping by ``period`` (peak / off-peak) counts each subscriber's verdict per period, the rule
applied to only that period's tests (:mod:`probe.compliance.periods`; the summary table per
period is passed as ``periods``); the whole-fleet row and the shortfall list stay the
whole-window verdicts, so adding ``period`` to a grouping never changes them.

Each share carries the exact (Clopper–Pearson) 95 % interval of :mod:`probe.compliance
.confidence`. The subscriber interval treats subscribers as independent draws; the test
interval treats tests as independent, which they are not (tests of one line, one evening, are
correlated), so it is narrower than the truth — it is shown for scale, and the subscriber share
is the figure to argue with. Neither changes a verdict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from probe.compliance.confidence import DEFAULT_LEVEL, clopper_pearson
from probe.report.summary import DIRECTIONS, ordered

GROUP_DIMENSIONS = ("plan", "region", "technology", "profile", "period")
_COUNTS = ("valid_measurements", "flagged_measurements", "download_tests", "download_failing",
           "upload_tests", "upload_failing")


@dataclass(frozen=True, slots=True)
class Share:
    """``compliant`` of ``total`` with the exact interval; share None when total is 0."""

    compliant: int
    total: int
    lower: float
    upper: float
    level: float = DEFAULT_LEVEL

    @classmethod
    def of(cls, compliant: int, total: int) -> Share:
        lower, upper = clopper_pearson(compliant, total)
        return cls(compliant, total, lower, upper)

    @property
    def share(self) -> float | None:
        return None if self.total == 0 else self.compliant / self.total

    def to_json_dict(self) -> dict[str, Any]:
        return {"compliant": self.compliant, "total": self.total, "share": self.share,
                "lower": self.lower, "upper": self.upper, "level": self.level,
                "method": "clopper-pearson"}


@dataclass(frozen=True, slots=True)
class GroupResult:
    """One group's counts and shares; ``key`` holds the values of the grouping dimensions."""

    key: Mapping[str, str]
    subscribers: int
    passed: int
    shortfall: int
    inconclusive: int
    valid_measurements: int
    flagged_measurements: int
    subscriber_share: Share
    test_shares: Mapping[str, Share]

    @property
    def label(self) -> str:
        return " / ".join(self.key.values()) or "all subscribers"

    def to_json_dict(self) -> dict[str, Any]:
        return {
            **self.key, "subscribers": self.subscribers, "pass": self.passed,
            "shortfall": self.shortfall, "inconclusive": self.inconclusive,
            "valid_measurements": self.valid_measurements,
            "flagged_measurements": self.flagged_measurements,
            "compliant_subscribers": self.subscriber_share.to_json_dict(),
            "compliant_tests": {d: s.to_json_dict() for d, s in self.test_shares.items()},
        }


@dataclass(frozen=True, slots=True)
class Shortfall:
    subscriber_id: str
    plan: str
    region: str
    technology: str
    reasons: str

    def to_json_dict(self) -> dict[str, Any]:
        return {"subscriber_id": self.subscriber_id, "plan": self.plan, "region": self.region,
                "technology": self.technology, "reasons": self.reasons}


@dataclass(frozen=True, slots=True)
class FleetReport:
    by: tuple[str, ...]
    overall: GroupResult
    groups: tuple[GroupResult, ...]
    shortfalls: tuple[Shortfall, ...]
    meta: Mapping[str, Any] = field(default_factory=dict)
    # Every subscriber's summary row, when asked for (``probe report --per-subscriber``).
    subscribers: tuple[Mapping[str, Any], ...] = ()

    def worst(self, count: int = 5) -> list[GroupResult]:
        """Groups with the lowest compliant-subscriber share (decided groups only)."""
        decided = [g for g in self.groups if g.subscriber_share.total > 0]
        return sorted(decided, key=lambda g: (g.subscriber_share.share or 0.0,
                                              -g.subscriber_share.total))[:count]

    def to_json_dict(self) -> dict[str, Any]:
        out = {"meta": dict(self.meta), "by": list(self.by),
               "overall": self.overall.to_json_dict(),
               "groups": [g.to_json_dict() for g in self.groups],
               "shortfalls": [s.to_json_dict() for s in self.shortfalls]}
        if self.subscribers:
            out["subscribers"] = [dict(row) for row in self.subscribers]
        return out


def _group(key: Mapping[str, str], counts: Mapping[Any, Any], verdicts: Mapping[Any, Any],
           ) -> GroupResult:
    passed, shortfall = verdicts.get("pass", 0), verdicts.get("shortfall", 0)
    inconclusive = verdicts.get("inconclusive", 0)
    tests = {}
    for d in DIRECTIONS:
        n = int(counts[f"{d}_tests"])
        if n:
            tests[d] = Share.of(n - int(counts[f"{d}_failing"]), n)
    return GroupResult(
        key=dict(key), subscribers=passed + shortfall + inconclusive, passed=passed,
        shortfall=shortfall, inconclusive=inconclusive,
        valid_measurements=int(counts["valid_measurements"]),
        flagged_measurements=int(counts["flagged_measurements"]),
        subscriber_share=Share.of(passed, passed + shortfall), test_shares=tests,
    )


def rollup(summary: pd.DataFrame, by: Sequence[str] = ("plan",),
           meta: Mapping[str, Any] | None = None, *, per_subscriber: bool = False,
           periods: pd.DataFrame | None = None) -> FleetReport:
    """Group the per-subscriber summary by ``by`` (any of :data:`GROUP_DIMENSIONS`); grouping by
    ``period`` needs ``periods``, the summary per subscriber and period."""
    unknown = [b for b in by if b not in GROUP_DIMENSIONS]
    if unknown:
        raise ValueError(f"cannot group by {', '.join(unknown)} "
                         f"(choose from {', '.join(GROUP_DIMENSIONS)})")
    if "period" in by and periods is None:
        raise ValueError("grouping by period needs the summary per period")
    totals = summary[list(_COUNTS)].sum()
    overall = _group({}, totals.to_dict(), summary["verdict"].value_counts().to_dict())
    groups: list[GroupResult] = []
    if by:
        keys = list(by)
        table = periods if periods is not None and "period" in by else summary
        sums = table.groupby(keys, sort=True)[list(_COUNTS)].sum()
        verdicts = table.groupby([*keys, "verdict"]).size().unstack(fill_value=0)
        for index, counts in sums.iterrows():
            values = index if isinstance(index, tuple) else (index,)
            row = verdicts.loc[index]  # type: ignore[call-overload]  # a group key
            groups.append(_group(dict(zip(keys, map(str, values), strict=True)),
                                 counts.to_dict(), {str(k): int(v) for k, v in row.items()}))
    short = summary[summary["verdict"] == "shortfall"].sort_values("subscriber_id")
    shortfalls = tuple(
        Shortfall(s, p, r, t, why) for s, p, r, t, why in zip(
            *(short[c].tolist() for c in ("subscriber_id", "plan", "region", "technology",
                                          "reasons")), strict=True)
    )
    rows: tuple[Mapping[str, Any], ...] = ()
    if per_subscriber:
        rows = tuple({str(k): v for k, v in row.items()}
                     for row in ordered(summary).to_dict(orient="records"))
    return FleetReport(tuple(by), overall, tuple(groups), shortfalls, dict(meta or {}), rows)
