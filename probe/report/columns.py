"""A measurements table with the dataset's columns → the compliance core's frame.

Parquet datasets, InfluxDB and VictoriaMetrics keep ``flags`` (text, "" when none); the core
only needs to know whether a row was flagged (:data:`probe.compliance.frame.COLUMNS`). Shared
by the single-process reader and every Dask partition, so both see the same rows the same way.
"""

from __future__ import annotations

import numpy as np
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
