"""One row per subscriber from its window verdict: what the roll-up counts and lists.

The row keeps what groups are made of (plan, region, technology from the contract), the
verdict, and per direction the rule's own test counts: ``tests`` and ``failing`` are the
numbers of the profile's Clopper–Pearson interval (``Evaluation.confidence``), i.e. the tests
the rule counted and those below its primary bar (cn-miit: k × theoretical rate; de-bnetza:
the normally available rate over the 30 campaign tests; us-fcc: 80 % of advertised in the
testing hours ...). No rule is evaluated a second time here.

The same function summarises a single process's evaluations and each Dask partition's, so the
two paths meet in identical tables.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from probe.compliance.contract import Contract
from probe.compliance.verdict import Evaluation

DIRECTIONS = ("download", "upload")
SUMMARY_COLUMNS = (
    "subscriber_id", "plan", "region", "technology", "profile", "verdict",
    "valid_measurements", "flagged_measurements",
    "download_tests", "download_failing", "upload_tests", "upload_failing", "reasons",
)


def summarise(evaluations: Iterable[Evaluation], contracts: Mapping[str, Contract]) -> pd.DataFrame:
    """Evaluations (any order) → the summary table, rows in the order given."""
    rows: dict[str, list[object]] = {c: [] for c in SUMMARY_COLUMNS}
    for e in evaluations:
        contract = contracts[e.subscriber_id]
        counts = {d: (0, 0) for d in DIRECTIONS}
        for conf in e.confidence:
            if conf.direction in counts:
                counts[conf.direction] = (conf.tests, conf.failing)
        values = (
            e.subscriber_id, contract.plan.id, contract.region or "(none)",
            contract.plan.technology, e.profile, e.verdict, e.valid_measurements,
            e.flagged_measurements, counts["download"][0], counts["download"][1],
            counts["upload"][0], counts["upload"][1],
            "" if e.verdict == "pass" else " | ".join(e.reasons),
        )
        for column, value in zip(SUMMARY_COLUMNS, values, strict=True):
            rows[column].append(value)
    frame = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    for column in SUMMARY_COLUMNS[6:12]:
        frame[column] = frame[column].astype(np.int64)
    return frame


def ordered(summary: pd.DataFrame) -> pd.DataFrame:
    """Rows by subscriber id, index reset: the canonical order for comparing two summaries."""
    return summary.sort_values("subscriber_id", kind="stable", ignore_index=True)
