"""``probe report --engine dask``: evaluate a Parquet dataset partitioned by subscriber.

A subscriber's verdict depends only on its own measurements (the compliance core's property
test: a shuffled fleet gives every subscriber exactly the evaluation it gets alone), so the
fleet splits into partitions that each hold whole subscribers, and each partition runs the
unchanged :func:`~probe.compliance.fleet.evaluate_fleet` + :func:`~probe.report.summary
.summarise`. Datasets written by ``probe simulate`` promise whole subscribers per file (their
manifest), so a file is a partition; any other dataset is first shuffled by ``subscriber_id``
(dask's hash shuffle). Contracts are scattered to every worker once. Subscribers with a
contract but no measurement are evaluated on the client (an empty window is inconclusive).
With ``periods`` each partition also judges its subscribers per period
(:func:`~probe.compliance.periods.evaluate_periods`, whole subscribers again suffice).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from probe.compliance.contract import Contract
from probe.compliance.fleet import evaluate_fleet
from probe.compliance.frame import COLUMNS
from probe.compliance.periods import evaluate_periods
from probe.compliance.verdict import Evaluation
from probe.errors import ConfigError, RecordFormatError
from probe.report.columns import RATE_COLUMNS, core_frame, known_subscribers
from probe.report.summary import (
    PERIOD_SUMMARY_COLUMNS,
    SUMMARY_COLUMNS,
    ordered,
    summarise,
    summarise_periods,
)

READ_COLUMNS = ("subscriber_id", "started_at", *RATE_COLUMNS, "flags")


class Encoder(Protocol):
    """Encodes one window verdict for write-back (the sink's encoder, bound to the window
    end); ``period`` for a verdict on only that period's tests."""

    def __call__(self, evaluation: Evaluation, contract: Contract, *,
                 period: str | None = None) -> str: ...


@dataclass(frozen=True, slots=True)
class PartitionResult:
    summary: pd.DataFrame
    periods: pd.DataFrame | None  # per subscriber and period, when asked for
    measurements: int  # rows of subscribers with a contract, in the window
    unknown_rows: int  # rows of subscribers without one
    unknown_example: str
    lines: list[str]


@dataclass(frozen=True, slots=True)
class DaskResult:
    summary: pd.DataFrame
    periods: pd.DataFrame | None
    measurements: int
    unknown_rows: int
    unknown_example: str
    partitions: int
    lines: list[str]


@dataclass(frozen=True, slots=True)
class Roster:
    """The contracts by subscriber, as one opaque value for dask to ship."""

    contracts: Mapping[str, Contract]


def evaluate_partition(
    part: pd.DataFrame, roster: Roster | Mapping[str, Contract], profile: str | None, *,
    start: datetime | None, end: datetime | None, encode: Encoder | None = None,
    periods: bool = False,
) -> PartitionResult:
    """One partition (whole subscribers): the summary rows of the subscribers it holds."""
    contracts = roster.contracts if isinstance(roster, Roster) else roster
    frame = core_frame(part)
    if start is not None:
        frame = frame[frame["started_at"] >= pd.Timestamp(start)]
    if end is not None:
        frame = frame[frame["started_at"] < pd.Timestamp(end)]
    known, names = known_subscribers(frame["subscriber_id"], contracts)
    present = {s: contracts[s] for s in names}
    evaluations = evaluate_fleet(frame[known], present, profile=profile)
    summary = (summarise(evaluations, present) if present
               else pd.DataFrame(columns=list(SUMMARY_COLUMNS)))
    lines = [] if encode is None else [encode(e, present[e.subscriber_id]) for e in evaluations]
    per_period = None
    if periods:
        by_period = evaluate_periods(frame[known], present, profile=profile)
        per_period = (summarise_periods(by_period, present) if present
                      else pd.DataFrame(columns=list(PERIOD_SUMMARY_COLUMNS)))
        lines += _encoded(encode, by_period, present)
    unknown = int((~known).sum())
    example = str(frame["subscriber_id"][~known].iloc[0]) if unknown else ""
    return PartitionResult(summary, per_period, int(known.sum()), unknown, example, lines)


def _encoded(encode: Encoder | None, by_period: Mapping[str, list[Evaluation]],
             contracts: Mapping[str, Contract]) -> list[str]:
    if encode is None:
        return []
    return [encode(e, contracts[e.subscriber_id], period=period)
            for period, evaluations in by_period.items() for e in evaluations]


def _dask() -> tuple[Any, Any, Any]:
    try:
        import dask.dataframe as dd  # noqa: PLC0415  # the fleet extra, loaded only when used
        from distributed import Client, LocalCluster  # noqa: PLC0415
    except ImportError:
        raise ConfigError("--engine dask needs dask: pip install 'broadband-probe[fleet]'") \
            from None
    return dd, Client, LocalCluster


def evaluate_on_dask(
    files: Sequence[Path], contracts: Mapping[str, Contract], *, whole_subscribers: bool,
    profile: str | None = None, start: datetime | None = None, end: datetime | None = None,
    workers: int = 2, scheduler: str | None = None,
    progress: Callable[[str], None] = lambda _text: None, encode: Encoder | None = None,
    periods: bool = False,
) -> DaskResult:
    """Evaluate the dataset's files on a cluster (a running ``scheduler``, or ``workers``
    local processes started and stopped here); summary rows in subscriber order."""
    dd, client_type, cluster_type = _dask()
    cluster = None
    if scheduler is None:
        # Loopback only, random ports, no dashboard: a report run is not a service.
        cluster = cluster_type(n_workers=workers, threads_per_worker=1, processes=True,
                               host="127.0.0.1", scheduler_port=0,
                               dashboard_address="127.0.0.1:0",
                               scheduler_kwargs={"dashboard": False},
                               silence_logs=logging.ERROR)
    try:
        with client_type(scheduler or cluster) as client:
            return _run(dd, client, files, contracts, whole=whole_subscribers,
                        profile=profile, start=start, end=end, progress=progress,
                        encode=encode, periods=periods)
    except OSError as exc:
        raise ConfigError(f"cannot use the dask scheduler {scheduler or 'started here'}: "
                          f"{exc}") from None
    finally:
        if cluster is not None:
            cluster.close()


def _run(dd: Any, client: Any, files: Sequence[Path], contracts: Mapping[str, Contract], *,
         whole: bool, profile: str | None, start: datetime | None, end: datetime | None,
         progress: Callable[[str], None], encode: Encoder | None, periods: bool,
         ) -> DaskResult:
    from distributed import as_completed  # noqa: PLC0415

    try:
        ddf = dd.read_parquet([str(f) for f in files], columns=None, split_row_groups=False)
    except Exception as exc:  # dask/pyarrow raise their own families
        raise RecordFormatError(f"cannot read the Parquet dataset: {exc}") from None
    missing = [c for c in ("subscriber_id", "started_at") if c not in ddf.columns]
    if missing:
        raise RecordFormatError(f"the Parquet files lack the column(s) {', '.join(missing)}")
    ddf = ddf[[c for c in READ_COLUMNS if c in ddf.columns]]
    if not whole:
        # Rows of one subscriber may sit in several files: bring them together first.
        ddf = ddf.shuffle("subscriber_id")
    # One copy of the contracts per worker, not one per task, pickled as one blob: dask
    # serialises a plain dict item by item and would hash every contract for the key
    # (minutes for 100 000 contracts).
    [shared] = client.scatter([Roster(dict(contracts))], broadcast=True, hash=False)
    parts = client.compute(ddf.to_delayed())
    futures = client.map(evaluate_partition, parts, roster=shared, profile=profile,
                         start=start, end=end, encode=encode, periods=periods, pure=False)
    results: list[PartitionResult] = []
    for done, future in enumerate(as_completed(futures), start=1):  # type: ignore[no-untyped-call]
        results.append(future.result())
        progress(f"partition {done} of {len(futures)} evaluated")
    seen = set().union(*(set(r.summary["subscriber_id"]) for r in results))
    lines = [line for r in results for line in r.lines]
    absent = {s: c for s, c in contracts.items() if s not in seen}
    frames = [r.summary for r in results if len(r.summary)]
    period_frames = [r.periods for r in results if r.periods is not None and len(r.periods)]
    if absent:
        empty = pd.DataFrame({c: pd.Series(dtype="float64") for c in COLUMNS})
        empty["subscriber_id"] = empty["subscriber_id"].astype(object)
        empty["started_at"] = pd.to_datetime(empty["started_at"], utc=True)
        empty["flagged"] = empty["flagged"].astype(bool)
        evaluations = evaluate_fleet(empty, absent, profile=profile)
        frames.append(summarise(evaluations, absent))
        lines.extend([] if encode is None else [encode(e, absent[e.subscriber_id])
                                                for e in evaluations])
        if periods:
            by_period = evaluate_periods(empty, absent, profile=profile)
            period_frames.append(summarise_periods(by_period, absent))
            lines.extend(_encoded(encode, by_period, absent))
    summary = ordered(pd.concat(frames, ignore_index=True))
    per_period = (ordered(pd.concat(period_frames, ignore_index=True)) if periods else None)
    example = next((r.unknown_example for r in results if r.unknown_example), "")
    return DaskResult(summary, per_period, sum(r.measurements for r in results),
                      sum(r.unknown_rows for r in results), example, len(futures), lines)
