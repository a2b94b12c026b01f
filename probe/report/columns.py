"""A measurements table with the dataset's columns → the compliance core's frame.

Parquet datasets, InfluxDB and VictoriaMetrics keep ``flags`` (text, "" when none); the core
only needs to know whether a row was flagged (:data:`probe.compliance.frame.COLUMNS`). Shared
by the single-process reader and every Dask partition, so both see the same rows the same way,
and so is the check of which rows belong to a subscriber with a contract.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
import pandas as pd

from probe.errors import RecordFormatError

RATE_COLUMNS = ("download_mbps", "upload_mbps", "latency_ms")


def core_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A dataset's columns → the core's: rates as float, ``flagged`` from ``flags``, UTC times."""
    out = pd.DataFrame({"subscriber_id": frame["subscriber_id"]})
    started = frame["started_at"]
    if not isinstance(started.dtype, pd.DatetimeTZDtype):
        raise RecordFormatError("started_at must be a timestamp with time zone (UTC)")
    out["started_at"] = started
    for name in RATE_COLUMNS:
        out[name] = (frame[name].astype(np.float64) if name in frame
                     else np.full(len(frame), np.nan))
    if "flagged" in frame:
        out["flagged"] = frame["flagged"].astype(bool)
    elif "flags" in frame:
        flags = frame["flags"]
        if isinstance(flags.dtype, pd.CategoricalDtype):
            empty = np.array([str(c) == "" for c in flags.cat.categories] + [True])
            out["flagged"] = ~empty[flags.cat.codes.to_numpy()]
        else:
            out["flagged"] = flags.fillna("").astype(str).ne("").to_numpy()
    else:
        out["flagged"] = False
    return out


def known_subscribers(column: pd.Series, contracts: Mapping[str, object],
                      ) -> tuple[npt.NDArray[np.bool_], list[str]]:
    """Rows whose subscriber has a contract, and those subscribers (in order of appearance).

    A categorical column is checked through its categories, not a string per row, and by a
    hash lookup (``get_indexer``): pandas 3's ``Index.isin`` on strings took 1.2 s per call
    for a roster of 100 000 contracts, in every Dask partition."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        names = column.cat.categories.astype(str)
        # code -1 (no subscriber) indexes the appended False: unknown
        has = np.append(pd.Index(list(contracts)).get_indexer(names) >= 0, False)
        codes = np.asarray(column.cat.codes, dtype=np.int64)
        known = has[codes]
        used = pd.unique(codes[known])
        return known, [str(names[c]) for c in used]
    ids = column.astype(str)
    mask = ids.isin(list(contracts)).to_numpy()
    return mask, [str(x) for x in pd.unique(ids[mask])]
