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
from probe.compliance.intake import REASONS
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
    """One criterion per subscriber: passes when reached / tests >= share (exactly).

    A criterion is a frozen value of (tests, reached) here, and a fleet has few distinct
    pairs: subscribers with the same pair share one object instead of formatting it again."""
    needs = pct(share)
    made: dict[tuple[int, int], Criterion] = {}

    def criterion(n: int, r: int) -> Criterion:
        counted = f"{label} {verb} in {r} of {n} {where}"
        if n < min_tests:
            return Criterion(id, direction, None, f"{counted}; needs at least {min_tests} "
                             f"valid {plural(min_tests, 'test')}")
        return Criterion(id, direction, r >= count_needed(share, n),
                         f"{counted} ({pct(r, n)}), needs {needs}")

    out = []
    for key in zip(tests.tolist(), reached.tolist(), strict=True):
        found = made.get(key)
        if found is None:
            found = made[key] = criterion(*key)
        out.append(found)
    return out


def confidences(
    direction: Scope, tests: Ints, failing: Ints, failing_means: str
) -> list[Confidence]:
    made: dict[tuple[int, int], Confidence] = {}  # one frozen value per (tests, failing)
    out = []
    for key in zip(tests.tolist(), failing.tolist(), strict=True):
        found = made.get(key)
        if found is None:
            n, k = key
            found = made[key] = Confidence(direction, k, n, *clopper_pearson(k, n), 0.95,
                                           failing_means)
        out.append(found)
    return out


def assemble(
    window: Window, profile: str, criteria: Sequence[Sequence[Criterion]],
    confidence: Sequence[Sequence[Confidence]],
    campaigns: Sequence[CampaignProgress | None] | None = None,
) -> list[Evaluation]:
    """Per-subscriber lists (each indexed like ``window.contracts``) → evaluations.

    ``not_counted`` comes from :attr:`Window.not_counted`, every reason of
    :data:`~probe.compliance.intake.REASONS` in order (0 where the window has no count)."""
    valid = np.diff(window.bounds).tolist()
    flagged = window.flagged.tolist()
    zeros = np.zeros(window.size, dtype=np.int64)
    counts = np.column_stack([window.not_counted.get(r, zeros) for r in REASONS]).tolist()
    not_counted: dict[tuple[int, ...], tuple[tuple[str, int], ...]] = {}  # few distinct
    out = []
    for i, contract in enumerate(window.contracts):
        crit = tuple(criteria[i])
        key = tuple(counts[i])
        pairs = not_counted.get(key)
        if pairs is None:
            pairs = not_counted[key] = tuple(zip(REASONS, key, strict=True))
        out.append(Evaluation(
            subscriber_id=contract.subscriber_id, profile=profile, plan_id=contract.plan.id,
            verdict=decide(crit), criteria=crit, confidence=tuple(confidence[i]),
            valid_measurements=valid[i], flagged_measurements=flagged[i],
            campaign=None if campaigns is None else campaigns[i], not_counted=pairs,
        ))
    return out


def transpose(columns: Sequence[Sequence[T]], size: int) -> list[list[T]]:
    """Lists per rule (each per subscriber) → lists per subscriber (each per rule)."""
    if any(len(column) != size for column in columns):
        raise ValueError(f"every rule needs one entry per subscriber ({size})")
    if not columns:
        return [[] for _ in range(size)]
    return [list(row) for row in zip(*columns, strict=True)]
