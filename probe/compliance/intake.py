"""What goes into a window verdict: one vote per measurement, and every row left out counted.

Before any rule sees the data, :func:`take_in` settles three questions about the input rows:

- **Duplicates.** A measurement id counts once. The same id with the same content (two
  overlapping exports joined together) is dropped and counted; the same id with different
  content is an error naming both rows, because one of them is not what was measured.
  Rows without an id (a CSV without an ``id`` column) cannot be checked, and the counts say so.
- **Unlabelled rows** (no ``subscriber_id``: ``probe measure --json`` output). With one contract
  they belong to it. With several they belong to nobody: they are counted as ``unlabelled`` and
  left out; if *every* row is unlabelled the input is refused (nothing could be evaluated).
- **Rows of other subscribers** (labelled for a subscriber not being evaluated) are counted.

What the rules themselves leave out (before the contract start, flagged, demo or voided,
outside the rule's hours) is counted per subscriber by :mod:`.frame` and :mod:`.fleet`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from probe.compliance.contract import Contract
from probe.compliance.verdict import plural
from probe.errors import RecordFormatError

# Why a row of a subscriber did not count, in the order the checks apply (a row is counted
# under the first reason that fits). Shown with these names in ``--json``.
REASONS: tuple[str, ...] = (
    "duplicate", "demo", "voided", "before_contract_start", "flagged", "outside_hours",
)
Bools = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int64]
Objects = npt.NDArray[np.object_]
# The columns whose values must agree when a measurement id occurs more than once.
_CONTENT = ("started_at", "download_mbps", "upload_mbps", "latency_ms", "flagged",
            "not_evidence")


@dataclass(frozen=True, slots=True)
class InputCounts:
    """What happened to the input rows before any rule looked at them."""

    rows: int
    duplicates: int = 0
    unlabelled: int = 0
    other_subscribers: int = 0
    ids_checked: bool = True

    def to_json_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "duplicates": self.duplicates,
                "unlabelled": self.unlabelled, "other_subscribers": self.other_subscribers,
                "ids_checked": self.ids_checked}

    def describe(self) -> str:
        """One line for humans: ``240 rows read; 120 duplicates dropped (same id) ...``."""
        parts = [f"{self.rows} {plural(self.rows, 'row')} read"]
        if self.duplicates:
            parts.append(f"{self.duplicates} {plural(self.duplicates, 'duplicate')} "
                         "dropped (same measurement id)")
        if not self.ids_checked:
            parts.append("duplicates not checked (the rows carry no id)")
        if self.unlabelled:
            parts.append(f"{self.unlabelled} unlabelled {plural(self.unlabelled, 'row')} "
                         "not counted (several contracts: label rows with subscriber_id)")
        if self.other_subscribers:
            parts.append(f"{self.other_subscribers} {plural(self.other_subscribers, 'row')} "
                         "of other subscribers not evaluated")
        return "; ".join(parts)


@dataclass(frozen=True, slots=True, eq=False)
class Intake:
    """The rows that go on to the rules (labels resolved, one per id) and what was left out."""

    frame: pd.DataFrame
    counts: InputCounts
    duplicates_of: Mapping[str, int] = field(default_factory=dict)


def _source(frame: pd.DataFrame, position: int) -> str:
    if "source" in frame:
        return str(frame["source"].iloc[position])
    return f"row {position + 1}"


def _same(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Element-wise equality where NaN equals NaN."""
    equal = np.asarray(a == b, dtype=bool)
    if a.dtype.kind == "f":
        equal |= np.isnan(a) & np.isnan(b)
    return equal


def _first_positions(ids: pd.Series) -> np.ndarray[Any, np.dtype[np.int64]]:
    """For each row, the position of the first row with the same id."""
    positions = pd.Series(np.arange(len(ids), dtype=np.int64), index=ids.index)
    return positions.groupby(ids.to_numpy(), sort=False).transform("min").to_numpy(np.int64)


def _dedupe(frame: pd.DataFrame, labels: Objects) -> tuple[Bools, Objects | None]:
    """(mask of duplicate rows, labels with each id's label, or None if unchanged); raises on
    conflicting content."""
    ids = frame["id"].astype(str)
    has_id = ids.ne("").to_numpy()
    duplicate = np.zeros(len(frame), dtype=bool)
    if not has_id.any():
        return duplicate, None
    duplicate[has_id] = ids[has_id].duplicated(keep="first").to_numpy()
    if not duplicate.any():
        return duplicate, None
    first = np.arange(len(frame), dtype=np.int64)
    where = np.flatnonzero(has_id)
    first[has_id] = where[_first_positions(ids[has_id])]
    rows = np.flatnonzero(duplicate)
    for name in _CONTENT:
        if name not in frame:
            continue
        column = frame[name]
        values = (column.astype("int64").to_numpy() if name == "started_at"
                  else column.to_numpy())
        differs = ~_same(values[rows], values[first[rows]])
        if differs.any():
            bad = int(rows[differs][0])
            _conflict(frame, ids, (int(first[bad]), bad), name, values)
    # Labels: a labelled copy and an unlabelled copy of one measurement agree; two different
    # labels do not.
    a, b = labels[rows], labels[first[rows]]
    clash = (a != "") & (b != "") & (a != b)
    if clash.any():
        bad = int(rows[clash][0])
        _conflict(frame, ids, (int(first[bad]), bad), "subscriber_id", labels)
    best = pd.Series(labels).groupby(ids.to_numpy(), sort=False).transform("max").to_numpy()
    return duplicate, np.where(has_id, best, labels)


def _label_codes(frame: pd.DataFrame) -> tuple[Objects, Ints]:
    """Subscriber labels as (distinct names, per-row index into them); "" for none.

    Works on categories, not on millions of strings: a fleet frame's column is categorical.
    """
    if "subscriber_id" not in frame:
        return np.array([""], dtype=object), np.zeros(len(frame), dtype=np.int64)
    column = frame["subscriber_id"]
    cat = (column.array if isinstance(column.dtype, pd.CategoricalDtype)
           else pd.Categorical(column))
    names = np.array([*map(str.strip, map(str, cat.categories.tolist())), ""], dtype=object)
    codes = np.asarray(cat.codes, dtype=np.int64)
    return names, np.where(codes < 0, len(names) - 1, codes)


def _shown(name: str, value: Any) -> str:
    if name == "started_at":
        return pd.Timestamp(int(value), tz="UTC").isoformat()
    return repr(value.item() if isinstance(value, np.generic) else value)


def _conflict(frame: pd.DataFrame, ids: pd.Series, rows: tuple[int, int], name: str,
              values: np.ndarray[Any, Any]) -> None:
    first, row = rows
    raise RecordFormatError(
        f"measurement id {ids.iloc[row]!r} occurs twice with different content: "
        f"{_source(frame, first)} and {_source(frame, row)} differ in {name} "
        f"({_shown(name, values[first])} vs {_shown(name, values[row])}); one measurement "
        "must have one record")


def take_in(frame: pd.DataFrame, contracts: Mapping[str, Contract], *,
            unlabelled_to_sole: bool = True) -> Intake:
    """Deduplicate by id and attribute rows to the contracts (see the module docstring).

    ``unlabelled_to_sole``: unlabelled rows belong to the contract when exactly one is given.
    A caller evaluating one contract picked out of several (``--subscriber``) passes False.
    """
    if "started_at" not in frame.columns:
        raise RecordFormatError("measurements lack the column 'started_at'")
    total = len(frame)
    names, codes = _label_codes(frame)
    relabelled = False
    has_ids = "id" in frame and bool(frame["id"].astype(str).ne("").any())
    duplicate = np.zeros(total, dtype=bool)
    if has_ids:
        duplicate, resolved = _dedupe(frame, names[codes])
        if resolved is not None:
            cat = pd.Categorical(resolved)
            names = np.array([*(str(c) for c in cat.categories), ""], dtype=object)
            codes, relabelled = np.asarray(cat.codes, dtype=np.int64), True
    ids = list(contracts)
    unlabelled = (names == "")[codes] & ~duplicate
    if unlabelled.any():
        if len(ids) == 1 and unlabelled_to_sole:
            names = np.where(names == "", ids[0], names)
            unlabelled[:], relabelled = False, True
        elif unlabelled.sum() == (~duplicate).sum():
            raise RecordFormatError(
                f"no measurement names its subscriber, and {len(ids)} contracts are being "
                "evaluated: add a subscriber_id to each record (or evaluate one contract)")
    wanted = set(ids)  # a set: np.isin compares object arrays pairwise
    known = np.fromiter((n in wanted for n in names), dtype=bool, count=len(names))[codes]
    other = ~known & ~unlabelled & ~duplicate
    keep = known & ~duplicate
    if keep.all() and not relabelled and "subscriber_id" in frame:
        kept = frame  # the common case of a clean fleet: no copy of millions of rows
    else:
        kept = frame.loc[keep].copy()
        kept["subscriber_id"] = names[codes[keep]]
    dup_counts = np.bincount(codes[duplicate & known], minlength=len(names))
    counts = InputCounts(rows=total, duplicates=int(duplicate.sum()),
                         unlabelled=int(unlabelled.sum()), other_subscribers=int(other.sum()),
                         ids_checked=has_ids or total == 0)
    return Intake(kept, counts, {str(names[i]): int(n) for i, n in enumerate(dup_counts) if n})
