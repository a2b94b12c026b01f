"""Measurements as a pandas DataFrame, cut into per-plan numpy windows in local time.

The fleet evaluation takes one DataFrame with the columns of :data:`COLUMNS` (``started_at``
aware UTC; rates/latency as floats, NaN where a direction was not measured; ``flagged`` True
when the measurement was limited by the local environment; optional: ``id``, ``source`` (where
the row came from, for messages) and ``not_evidence`` (``"demo"`` or ``"voided"``: never
evidence). :func:`windows_by_plan` converts the UTC instants to each subscriber's local
calendar day and time of day (zoneinfo rules via pandas, so DST days have 23 or 25 hours),
leaves out demo and voided rows, rows before the contract start and flagged rows — counting
each per subscriber in :attr:`Window.not_counted` — and returns one :class:`Window` per plan,
sorted by subscriber and time. Spacing rules use the UTC instants (elapsed time); day and hour
rules use the local values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

from probe.compliance.contract import Contract, Plan
from probe.errors import RecordFormatError
from probe.measurement import Measurement

COLUMNS = ("subscriber_id", "started_at", "download_mbps", "upload_mbps", "latency_ms", "flagged")
DAY_MS = 86_400_000
Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Window:
    """Valid measurements of the subscribers on one plan, sorted by subscriber then time.

    ``sub`` indexes ``contracts``; ``bounds[i]:bounds[i+1]`` are subscriber i's rows. ``day`` is
    the local calendar day (days since 1970-01-01), ``sod_ms`` the local wall-clock time of day.
    """

    contracts: tuple[Contract, ...]
    sub: Ints
    t_ms: Ints
    day: Ints
    sod_ms: Ints
    download: Floats
    upload: Floats
    latency_ms: Floats
    flagged: Ints  # per subscriber: flagged measurements in the contract period (not counted)
    bounds: Ints
    # Per reason (demo, voided, before_contract_start, flagged; evaluate_intake adds duplicate
    # and outside_hours), per subscriber: rows left out. Evaluations carry them as not_counted.
    not_counted: Mapping[str, Ints] = field(default_factory=dict)
    # "peak" / "off_peak" when the window holds only that period's tests (probe.compliance
    # .periods); a rule's clauses about the other period then do not apply (eu-berec).
    period: str | None = None

    @property
    def size(self) -> int:
        return len(self.contracts)

    def rates(self, direction: str) -> Floats:
        return self.download if direction == "download" else self.upload


def measurements_frame(records: Iterable[Measurement], subscriber_id: str = "") -> pd.DataFrame:
    """One row per measurement record (the shape ``probe measure --json`` lines give)."""
    rows = [
        {
            "subscriber_id": subscriber_id,
            "started_at": m.started_at,
            "download_mbps": np.nan if m.download_mbps is None else m.download_mbps,
            "upload_mbps": np.nan if m.upload_mbps is None else m.upload_mbps,
            "latency_ms": np.nan if m.latency_ms is None else m.latency_ms,
            "flagged": bool(m.flags),
        }
        for m in records
    ]
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame["started_at"] = pd.to_datetime(frame["started_at"], utc=True)
    return frame


def _utc_ms(column: pd.Series) -> Ints:
    if not isinstance(column.dtype, pd.DatetimeTZDtype):
        raise RecordFormatError("started_at must hold timezone-aware timestamps")
    values = column.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[ms]")
    return np.asarray(values.astype(np.int64), dtype=np.int64)


def _floats(frame: pd.DataFrame, name: str) -> Floats:
    if name not in frame:
        return np.full(len(frame), np.nan)
    values = frame[name].to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isnan(values) & ((values < 0) | ~np.isfinite(values))
    if bad.any():
        raise RecordFormatError(f"{name} must be finite and >= 0, got {values[bad][0]!r}")
    return values


def _local(t_ms: Ints, zone_of_row: Ints, zones: list[str]) -> Ints:
    """Local wall-clock milliseconds since 1970-01-01 (local), per row's time zone."""
    local = np.empty_like(t_ms)
    for z, name in enumerate(zones):
        # A mask per zone, not a sort of every row by zone: a fleet has a handful of zones,
        # and the stable sort of ten million rows cost more than the conversions.
        rows = np.flatnonzero(zone_of_row == z) if len(zones) > 1 else None
        if rows is not None and rows.size == 0:
            continue
        picked = t_ms if rows is None else t_ms[rows]
        utc = pd.DatetimeIndex(picked.view("datetime64[ms]")).tz_localize("UTC")
        wall = utc.tz_convert(name).tz_localize(None).as_unit("ms").asi8
        if rows is None:
            local[:] = wall
        else:
            local[rows] = wall
    return local


def subscriber_codes(frame: pd.DataFrame, ids: list[str]) -> Ints | None:
    """Each row's index into ``ids`` (-1 when the subscriber has no contract); None when no row
    names a subscriber. A categorical column is mapped through its (few) categories and never
    expanded to one string per row: at ten million rows that conversion cost more than the
    whole evaluation."""
    column = frame["subscriber_id"]
    index = pd.Index(ids)
    if isinstance(column.dtype, pd.CategoricalDtype):
        categories = column.cat.categories.astype(str)
        if not (categories != "").any():
            return None
        of_category = np.append(index.get_indexer(categories), -1)  # code -1 (missing) → -1
        return np.asarray(of_category[np.asarray(column.cat.codes, dtype=np.int64)],
                          dtype=np.int64)
    names = column.astype(str)
    if not names.ne("").any():
        return None
    return np.asarray(index.get_indexer(pd.Index(names)), dtype=np.int64)


def _start_ms(cons: list[Contract]) -> Ints:
    """Each contract's first counted instant (UTC ms; the smallest int64 when none)."""
    big = np.iinfo(np.int64).min
    starts: dict[tuple[object, str], int] = {}  # a fleet shares few (start, zone) pairs
    for c in cons:
        if (c.start, c.time_zone) not in starts:
            s = c.start_utc()
            starts[c.start, c.time_zone] = big if s is None else int(s.timestamp() * 1000)
    return np.array([starts[c.start, c.time_zone] for c in cons], dtype=np.int64)


def _by_subscriber_then_time(sub: Ints, t_ms: Ints) -> Ints:
    """The stable order by (subscriber, time) — ``np.lexsort((t_ms, sub))``.

    Rows that come as one time-ordered block per subscriber (every dataset ``probe simulate``
    or a store export writes) only need their blocks put in order: O(rows) instead of a sort
    of every row. Otherwise one stable argsort of a combined key when it fits in 63 bits
    (several times faster than lexsort), else lexsort. All three give the same permutation
    (a property test compares them)."""
    if sub.size == 0:
        return np.arange(0, dtype=np.int64)
    blocks = _block_order(sub, t_ms)
    if blocks is not None:
        return blocks
    low = int(t_ms.min())
    span = int(t_ms.max()) - low + 1
    if (int(sub.max()) + 1) * span >= 2**62:
        return np.asarray(np.lexsort((t_ms, sub)), dtype=np.int64)
    return np.asarray(np.argsort(sub * span + (t_ms - low), kind="stable"), dtype=np.int64)


def _block_order(sub: Ints, t_ms: Ints) -> Ints | None:
    """The stable (subscriber, time) order when each subscriber's rows are one contiguous,
    time-ordered block; None when they are not."""
    change = sub[1:] != sub[:-1]
    if not np.all(change | (t_ms[1:] >= t_ms[:-1])):
        return None
    starts = np.concatenate(([0], np.flatnonzero(change) + 1))
    block_sub = sub[starts]
    by_sub = np.argsort(block_sub, kind="stable")
    if np.any(block_sub[by_sub][1:] == block_sub[by_sub][:-1]):
        return None  # a subscriber in two blocks: its rows must be merged by time
    lengths = np.diff(np.append(starts, sub.size))[by_sub]
    # Row k of the output is row (its block's start + its place in the block) of the input.
    first_out = np.cumsum(lengths) - lengths
    shift = np.repeat(starts[by_sub] - first_out, lengths)
    return np.asarray(shift + np.arange(sub.size, dtype=np.int64), dtype=np.int64)


def _left_out(frame: pd.DataFrame, known: npt.NDArray[np.bool_], after_start: npt.NDArray[np.bool_]
              ) -> tuple[npt.NDArray[np.bool_], ...]:
    """Rows of known subscribers that are demo, voided, or (otherwise) before the start."""
    if "not_evidence" in frame:
        marks = frame["not_evidence"].fillna("").astype(str).to_numpy()
        demo, voided = known & (marks == "demo"), known & (marks == "voided")
    else:  # a fleet dataset holds evidence only; comparing 10 M empty strings took a second
        demo = voided = np.zeros(len(frame), dtype=bool)
    return demo, voided, known & ~demo & ~voided & ~after_start


def windows_by_plan(
    frame: pd.DataFrame, contracts: Mapping[str, Contract]
) -> list[tuple[Plan, Window]]:
    """Split a fleet's measurements into one local-time :class:`Window` per plan."""
    missing = {"started_at"} - set(frame.columns)
    if missing:
        raise RecordFormatError("measurements lack the column 'started_at'")
    ids = list(contracts)
    code = subscriber_codes(frame, ids) if "subscriber_id" in frame else None
    if code is None:
        if len(ids) != 1:
            raise RecordFormatError(
                "measurements need a subscriber_id column for a fleet of contracts")
        code = np.zeros(len(frame), dtype=np.int64)
    t_ms = _utc_ms(frame["started_at"])
    down, up = _floats(frame, "download_mbps"), _floats(frame, "upload_mbps")
    latency = _floats(frame, "latency_ms")
    flagged = (frame["flagged"].to_numpy(dtype=bool) if "flagged" in frame
               else np.zeros(len(frame), dtype=bool))

    known = code >= 0
    cons = [contracts[i] for i in ids]
    start_ms = _start_ms(cons)
    demo, voided, before = _left_out(frame, known, t_ms >= start_ms[np.where(known, code, 0)])
    in_period = known & ~demo & ~voided & ~before
    zones = sorted({c.time_zone for c in cons})
    zone_index = {name: z for z, name in enumerate(zones)}
    zone_of_contract = np.array([zone_index[c.time_zone] for c in cons], dtype=np.int64)
    rows = np.flatnonzero(in_period)
    t_rows = t_ms[rows]
    local = _local(t_rows, zone_of_contract[code[rows]], zones)

    # Group by plan object, not plan id: two files may both call their plan "basic". Contracts
    # are ranked so that each plan's subscribers are contiguous; one sort orders every row.
    plan_index: dict[int, int] = {}
    plan_of_contract = np.array([plan_index.setdefault(id(c.plan), len(plan_index))
                                 for c in cons], dtype=np.int64)
    by_plan = np.argsort(plan_of_contract, kind="stable")
    rank = np.empty(len(cons), dtype=np.int64)
    rank[by_plan] = np.arange(len(cons))
    plan_starts = np.searchsorted(plan_of_contract[by_plan], np.arange(len(plan_index) + 1))
    r = rank[code[rows]]
    row_flag = flagged[rows]
    flag_counts = np.bincount(r[row_flag], minlength=len(cons)).astype(np.int64)
    left_out = {name: np.bincount(rank[code[mask]], minlength=len(cons)).astype(np.int64)
                for name, mask in (("demo", demo), ("voided", voided),
                                   ("before_contract_start", before))} | {"flagged": flag_counts}
    kept = np.flatnonzero(~row_flag)
    r_kept = r[kept]
    order = _by_subscriber_then_time(r_kept, t_rows[kept])
    take_all, r_sorted = kept[order], r_kept[order]
    row_bounds = np.searchsorted(r_sorted, plan_starts)
    out: list[tuple[Plan, Window]] = []
    for p in range(len(plan_index)):
        c_lo, c_hi = int(plan_starts[p]), int(plan_starts[p + 1])
        take = take_all[row_bounds[p]:row_bounds[p + 1]]
        sub = r_sorted[row_bounds[p]:row_bounds[p + 1]] - c_lo
        members = by_plan[c_lo:c_hi]
        day, sod_ms = np.divmod(local[take], DAY_MS)  # floor division: day and time of day
        src = rows[take]
        bounds = np.searchsorted(sub, np.arange(members.size + 1)).astype(np.int64)
        out.append((cons[members[0]].plan, Window(
            contracts=tuple([cons[m] for m in members.tolist()]), sub=sub, t_ms=t_ms[src],
            day=day, sod_ms=sod_ms, download=down[src], upload=up[src],
            latency_ms=latency[src], flagged=flag_counts[c_lo:c_hi], bounds=bounds,
            not_counted={k: v[c_lo:c_hi] for k, v in left_out.items()},
        )))
    return out
