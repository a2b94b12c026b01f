"""Vectorised counting shared by the profiles: "reached in r of n tests, needs s %".

Counts are per subscriber (``np.bincount`` over the window's subscriber index), the decision
is in integers (:func:`~probe.compliance.params.count_needed`), and the sentences are built
once per subscriber. Also assembles the final :class:`Evaluation` list of a window.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from probe.compliance.confidence import clopper_pearson
from probe.compliance.frame import Ints, Window
from probe.compliance.params import count_needed
from probe.compliance.verdict import (
    CampaignProgress,
    Confidence,
    Criterion,
    Evaluation,
    Scope,
    decide,
    pct,
    plural,
)

Bools = npt.NDArray[np.bool_]
T = TypeVar("T")


def per_subscriber(window: Window, rows: Bools) -> Ints:
    """How many of the selected rows each subscriber has."""
    return np.bincount(window.sub[rows], minlength=window.size).astype(np.int64)


def share_criteria(
    *, id: str, direction: Scope, label: str, tests: Ints, reached: Ints, share: Fraction,
    min_tests: int, where: str = "tests", verb: str = "reached",
) -> list[Criterion]:
    """One criterion per subscriber: passes when reached / tests >= share (exactly)."""
    out = []
    needs = pct(share)
    needed: dict[int, int] = {}  # per test count: a fleet has few distinct ones
    for n, r in zip(tests.tolist(), reached.tolist(), strict=True):
        counted = f"{label} {verb} in {r} of {n} {where}"
        if n < min_tests:
            out.append(Criterion(id, direction, None,
                                 f"{counted}; needs at least {min_tests} valid "
                                 f"{plural(min_tests, 'test')}"))
            continue
        if n not in needed:
            needed[n] = count_needed(share, n)
        out.append(Criterion(id, direction, r >= needed[n],
                             f"{counted} ({pct(r, n)}), needs {needs}"))
    return out


def confidences(
    direction: Scope, tests: Ints, failing: Ints, failing_means: str
) -> list[Confidence]:
    out = []
    for n, k in zip(tests.tolist(), failing.tolist(), strict=True):
        lower, upper = clopper_pearson(k, n)
        out.append(Confidence(direction, k, n, lower, upper, 0.95, failing_means))
    return out


def assemble(
    window: Window, profile: str, criteria: Sequence[Sequence[Criterion]],
    confidence: Sequence[Sequence[Confidence]],
    campaigns: Sequence[CampaignProgress | None] | None = None,
) -> list[Evaluation]:
    """Per-subscriber lists (each indexed like ``window.contracts``) → evaluations."""
    valid = np.diff(window.bounds).tolist()
    flagged = window.flagged.tolist()
    out = []
    for i, contract in enumerate(window.contracts):
        crit = tuple(criteria[i])
        out.append(Evaluation(
            subscriber_id=contract.subscriber_id, profile=profile, plan_id=contract.plan.id,
            verdict=decide(crit), criteria=crit, confidence=tuple(confidence[i]),
            valid_measurements=valid[i], flagged_measurements=flagged[i],
            campaign=None if campaigns is None else campaigns[i],
        ))
    return out


def transpose(columns: Sequence[Sequence[T]], size: int) -> list[list[T]]:
    """Lists per rule (each per subscriber) → lists per subscriber (each per rule)."""
    rows: list[list[T]] = [[] for _ in range(size)]
    for column in columns:
        for i, item in enumerate(column):
            rows[i].append(item)
    return rows
