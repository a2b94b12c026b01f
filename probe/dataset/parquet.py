"""Parquet measurement datasets: one directory of ``part-NNNNN.parquet`` files and a manifest.

Layout written here (and documented in docs/fleet.md)::

    DIR/part-00000.parquet   rows of a contiguous range of subscribers, by subscriber then time
    DIR/part-00001.parquet   ...
    DIR/_dataset.json        {"format": "probe-measurements", "whole_subscribers": true, ...}

Columns: ``id`` (16-byte UUID), ``probe_id``, ``subscriber_id`` (dictionary strings),
``started_at`` (timestamp[us, UTC]), ``download_mbps``, ``upload_mbps``, ``latency_ms``
(float64, null when not measured), ``flags`` ("" when none, else sorted and comma-separated)
and the contract's ``plan``, ``region``, ``technology``. ``whole_subscribers`` promises that
no subscriber's rows span two files, so a distributed evaluation can take a file as a
partition without a shuffle. Any other Parquet directory with ``subscriber_id``,
``started_at`` and the rate columns is read too (without that promise).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from probe.errors import RecordFormatError
from probe.report.columns import RATE_COLUMNS, core_frame

MANIFEST = "_dataset.json"
FORMAT = "probe-measurements"
REQUIRED = ("subscriber_id", "started_at")
DEFAULT_ROWS_PER_FILE = 1_000_000


@dataclass(frozen=True, slots=True)
class DatasetInfo:
    """What a dataset directory holds, from its manifest (absent for foreign datasets)."""

    path: Path
    files: tuple[Path, ...]
    whole_subscribers: bool
    rows: int | None


def _pa() -> Any:
    try:
        import pyarrow as pa  # noqa: PLC0415  # the fleet extra, loaded only when used
        import pyarrow.parquet  # noqa: PLC0415
    except ImportError:
        raise RecordFormatError("reading or writing Parquet needs pyarrow: "
                                "pip install 'broadband-probe[fleet]'") from None
    return pa


def write_measurements(
    directory: Path, frame: pd.DataFrame, ids: npt.NDArray[np.bytes_] | None = None, *,
    rows_per_file: int = DEFAULT_ROWS_PER_FILE,
    progress: Callable[[int, int], None] | None = None,
) -> DatasetInfo:
    """Write ``frame`` (sorted by subscriber) as part files that each hold whole subscribers."""
    pa = _pa()
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("part-*.parquet"):
        old.unlink()  # a rerun must not leave a longer previous run's tail behind
    codes = _subscriber_codes(frame)
    if codes.size and np.any(np.diff(codes) < 0):
        raise ValueError("write_measurements needs rows sorted by subscriber")
    # Cut at subscriber boundaries only, as close to rows_per_file as they allow.
    edges = np.flatnonzero(np.diff(codes)) + 1 if codes.size else np.array([], dtype=np.int64)
    cuts = [0]
    while cuts[-1] < len(frame):
        target = cuts[-1] + rows_per_file
        later = edges[edges >= target]
        cuts.append(int(later[0]) if target < len(frame) and later.size else len(frame))
    files = []
    for number, (lo, hi) in enumerate(itertools.pairwise(cuts)):
        table = pa.Table.from_pandas(frame.iloc[lo:hi], preserve_index=False)
        if ids is not None:
            table = table.add_column(0, "id", _id_column(pa, ids[lo:hi]))
        path = directory / f"part-{number:05d}.parquet"
        pa.parquet.write_table(table, path, compression="zstd")
        files.append(path)
        if progress is not None:
            progress(hi, len(frame))
    (directory / MANIFEST).write_text(json.dumps({
        "format": FORMAT, "version": 1, "whole_subscribers": True, "rows": len(frame),
        "files": [p.name for p in files],
    }, indent=2) + "\n", encoding="utf-8")
    return DatasetInfo(directory, tuple(files), True, len(frame))


def _id_column(pa: Any, ids: npt.NDArray[np.bytes_]) -> Any:
    raw = np.ascontiguousarray(ids).tobytes()
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), len(ids),
                                                [None, pa.py_buffer(raw)])


def _subscriber_codes(frame: pd.DataFrame) -> npt.NDArray[np.int64]:
    column = frame["subscriber_id"]
    if isinstance(column.dtype, pd.CategoricalDtype):
        return np.asarray(column.cat.codes, dtype=np.int64)
    return np.asarray(pd.factorize(column, sort=False)[0], dtype=np.int64)


def describe(directory: Path) -> DatasetInfo:
    """The part files of a dataset directory (sorted) and its manifest's promises."""
    if not directory.is_dir():
        raise RecordFormatError(f"{directory}: no such directory of Parquet files")
    files = tuple(sorted(p for p in directory.rglob("*.parquet") if not p.name.startswith("_")))
    if not files:
        raise RecordFormatError(f"{directory}: holds no .parquet files")
    manifest = directory / MANIFEST
    whole, rows = False, None
    if manifest.is_file():
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise RecordFormatError(f"{manifest}: cannot read the manifest: {exc}") from None
        if data.get("format") == FORMAT:
            whole, rows = bool(data.get("whole_subscribers")), data.get("rows")
    return DatasetInfo(directory, files, whole, rows)


def read_measurements(
    directory: Path, *, start: datetime | None = None, end: datetime | None = None,
) -> pd.DataFrame:
    """The measurements in ``[start, end)`` as the compliance core's frame
    (:data:`probe.compliance.frame.COLUMNS`; ``flagged`` from ``flags``)."""
    _pa()
    import pyarrow.dataset as ds  # noqa: PLC0415

    info = describe(directory)
    try:
        dataset = ds.dataset([str(p) for p in info.files], format="parquet")
    except Exception as exc:  # pyarrow raises its own ArrowInvalid/OSError family
        raise RecordFormatError(f"{directory}: not a readable Parquet dataset: {exc}") from None
    names = set(dataset.schema.names)
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise RecordFormatError(f"{directory}: the Parquet files lack the column(s) "
                                f"{', '.join(missing)} (need {', '.join(REQUIRED)})")
    columns = [c for c in (*REQUIRED, *RATE_COLUMNS, "flags", "flagged") if c in names]
    condition = None
    field = ds.field("started_at")
    if start is not None:
        condition = field >= pd.Timestamp(start)
    if end is not None:
        upper = field < pd.Timestamp(end)
        condition = upper if condition is None else condition & upper
    try:
        table = dataset.to_table(columns=columns, filter=condition)
    except Exception as exc:
        raise RecordFormatError(f"{directory}: cannot read: {exc}") from None
    return core_frame(table.to_pandas())
