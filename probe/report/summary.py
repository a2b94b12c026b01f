"""One row per subscriber from its window verdict: what the roll-up counts and lists.

The row keeps what groups are made of (plan, region, technology from the contract), the
verdict, and per direction the rule's own test counts: ``tests`` and ``failing`` are the
numbers of the profile's Clopper–Pearson interval (``Evaluation.confidence``), i.e. the tests
the rule counted and those below its primary bar (cn-miit: k × theoretical rate; de-bnetza:
the normally available rate over the 30 campaign tests; us-fcc: 80 % of advertised in the
testing hours ...). No rule is evaluated a second time here.

The same function summarises a single process's evaluations and each Dask partition's, so the
two paths meet in identical tables. :func:`summarise_periods` does the same for the verdicts
per period (:mod:`probe.compliance.periods`): one row per subscriber and period, with a
``period`` column.
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
PERIOD_SUMMARY_COLUMNS = (*SUMMARY_COLUMNS[:5], "period", *SUMMARY_COLUMNS[5:])


def summarise(evaluations: Iterable[Evaluation], contracts: Mapping[str, Contract]) -> pd.DataFrame:
    """Evaluations (any order) → the summary table, rows in the order given.

    Built column by column: at 100 000 subscribers the per-row dict work cost a second."""
    evals = list(evaluations)
    cons = [contracts[e.subscriber_id] for e in evals]
    counts = [_direction_counts(e) for e in evals]
    columns: dict[str, list[object]] = {
        "subscriber_id": [e.subscriber_id for e in evals],
        "plan": [c.plan.id for c in cons],
        "region": [c.region or "(none)" for c in cons],
        "technology": [c.plan.technology for c in cons],
        "profile": [e.profile for e in evals],
        "verdict": [e.verdict for e in evals],
    }
    frame = pd.DataFrame(columns, columns=list(SUMMARY_COLUMNS[:6]))
    frame["valid_measurements"] = np.array([e.valid_measurements for e in evals], dtype=np.int64)
    frame["flagged_measurements"] = np.array([e.flagged_measurements for e in evals],
                                             dtype=np.int64)
    table = np.array(counts, dtype=np.int64).reshape(len(evals), 4)
    for k, column in enumerate(SUMMARY_COLUMNS[8:12]):
        frame[column] = table[:, k]
    frame["reasons"] = ["" if e.verdict == "pass" else " | ".join(e.reasons) for e in evals]
    return frame


def summarise_periods(by_period: Mapping[str, Iterable[Evaluation]],
                      contracts: Mapping[str, Contract]) -> pd.DataFrame:
    """Evaluations per period → the summary table with a ``period`` column after ``profile``:
    the periods in the order given, each period's rows in the order given."""
    frames = []
    for period, evaluations in by_period.items():
        frame = summarise(evaluations, contracts)
        frame.insert(SUMMARY_COLUMNS.index("verdict"), "period", period)
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=list(PERIOD_SUMMARY_COLUMNS))
    return pd.concat(frames, ignore_index=True)


def _direction_counts(e: Evaluation) -> tuple[int, int, int, int]:
    """(download tests, failing, upload tests, failing) from the rule's intervals; 0 where the
    rule has none for a direction (the last interval of a direction counts)."""
    down = up = (0, 0)
    for conf in e.confidence:
        if conf.direction == "download":
            down = (conf.tests, conf.failing)
        elif conf.direction == "upload":
            up = (conf.tests, conf.failing)
    return (*down, *up)


def ordered(summary: pd.DataFrame) -> pd.DataFrame:
    """Rows by subscriber id (and period, in a table per period), index reset: the canonical
    order for comparing two summaries."""
    keys = ["subscriber_id", "period"] if "period" in summary else ["subscriber_id"]
    return summary.sort_values(keys, kind="stable", ignore_index=True)
