"""Reading back what a sink holds: InfluxQL ``/query`` (InfluxDB 1.x, and 2.x/3.x through their
v1 API) and VictoriaMetrics' ``/api/v1/export``.

Two users: ``probe report --source influx:URL`` (the fleet's measurements as a frame) and the
delivery audit (which of this probe's points the sink really stored: a 2xx is no proof,
VictoriaMetrics answers 204 for lines it drops and loses acknowledged writes when killed).
Plain ``urllib``: influxdb-client cannot speak InfluxQL (influxdb-client-python#178) and
VictoriaMetrics' export is not an Influx API at all.
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from probe.errors import SinkError
from probe.sinks.lineprotocol import MEASUREMENT, timestamp_ns

if TYPE_CHECKING:
    import pandas as pd

CHUNK_SIZE = 10_000
RATE_FIELDS = ("download_mbps", "upload_mbps", "latency_ms")
_MAX_ERROR_TEXT = 300


def _request(url: str, headers: Mapping[str, str], timeout_s: float, what: str) -> Any:
    request = urllib.request.Request(url, headers=dict(headers))
    try:
        return urllib.request.urlopen(request, timeout=timeout_s)
    except urllib.error.HTTPError as exc:
        body = exc.read().decode("utf-8", "replace")
        with contextlib.suppress(ValueError, AttributeError):
            body = str(json.loads(body).get("error", body))
        raise SinkError(f"{what} answered HTTP {exc.code}: "
                        f"{' '.join(body.split())[:_MAX_ERROR_TEXT] or exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SinkError(f"cannot reach {what}: {reason}") from None


def quote_identifier(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def quote_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class InfluxQLReader:
    """``SELECT`` over InfluxDB's v1 ``/query``, chunked, timestamps in nanoseconds."""

    def __init__(self, url: str, db: str, *, rp: str = "", token: str = "",
                 timeout_s: float = 60.0) -> None:
        self.url, self.db, self.rp, self.timeout_s = url.rstrip("/"), db, rp, timeout_s
        self._headers = {}
        if token:
            # 1.x takes user:password as HTTP basic; 2.x's v1 API takes any user + token.
            user, _, password = token.partition(":") if ":" in token else ("probe", "", token)
            raw = f"{user}:{password}".encode()
            self._headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()

    def describe(self) -> str:
        return f"InfluxDB at {self.url} (db {self.db})"

    def source(self, measurement: str) -> str:
        head = f"{quote_identifier(self.db)}.{quote_identifier(self.rp)}." if self.rp else ""
        return head + quote_identifier(measurement)

    def select(self, q: str) -> Iterator[tuple[list[str], list[list[Any]]]]:
        """(columns, rows) per series and chunk of the query's answer."""
        params = urllib.parse.urlencode({"db": self.db, "q": q, "epoch": "ns", "chunked": "true",
                                         "chunk_size": str(CHUNK_SIZE)})
        with _request(f"{self.url}/query?{params}", self._headers, self.timeout_s,
                      self.describe()) as response:
            for raw in response:
                if not raw.strip():
                    continue
                data = json.loads(raw)
                for result in data.get("results", ()):
                    if "error" in result:
                        raise SinkError(f"{self.describe()}: {result['error']}")
                    for series in result.get("series", ()):
                        yield list(series["columns"]), list(series["values"])

    def measurements(self, *, start: datetime | None = None, end: datetime | None = None,
                     probe_id: str | None = None, columns: tuple[str, ...] = (
                         *RATE_FIELDS, "subscriber_id", "flags"),
                     ) -> dict[str, list[Any]]:
        """The ``broadband`` points in ``[start, end)`` as columns (``time`` in ns)."""
        where = []
        if start is not None:
            where.append(f"time >= {timestamp_ns(start)}")
        if end is not None:
            where.append(f"time < {timestamp_ns(end)}")
        if probe_id is not None:
            where.append(f"probe_id = {quote_string(probe_id)}")
        q = (f"SELECT {', '.join(quote_identifier(c) for c in columns)} "
             f"FROM {self.source(MEASUREMENT)}")
        if where:
            q += " WHERE " + " AND ".join(where)
        out: dict[str, list[Any]] = {c: [] for c in ("time", *columns)}
        for names, rows in self.select(q):
            index = [names.index(c) if c in names else None for c in ("time", *columns)]
            for row in rows:
                for key, i in zip(out, index, strict=True):
                    out[key].append(None if i is None else row[i])
        return out


def measurements_frame(columns: Mapping[str, list[Any]]) -> pd.DataFrame:
    """InfluxQL columns (``time`` in ns, rates, ``subscriber_id``, ``flags``) → the core frame."""
    # pandas only where a frame is wanted: the audit reads back without it.
    import numpy as np  # noqa: PLC0415
    import pandas as pd  # noqa: PLC0415

    n = len(columns["time"])
    frame = pd.DataFrame({
        "subscriber_id": pd.Series(["" if v is None else str(v)
                                    for v in columns.get("subscriber_id", [None] * n)],
                                   dtype=object),
        "started_at": pd.to_datetime(np.asarray(columns["time"], dtype=np.int64), unit="ns",
                                     utc=True),
    })
    for name in RATE_FIELDS:
        values = columns.get(name, [None] * n)
        frame[name] = np.array([math.nan if v is None else float(v) for v in values],
                               dtype=np.float64)
    frame["flagged"] = [bool(v) for v in columns.get("flags", [None] * n)]
    return frame


class VictoriaMetricsReader:
    """``/api/v1/export`` of VictoriaMetrics: every sample of the matching series."""

    def __init__(self, url: str, *, timeout_s: float = 60.0) -> None:
        self.url, self.timeout_s = url.rstrip("/"), timeout_s

    def describe(self) -> str:
        return f"VictoriaMetrics at {self.url}"

    def export(self, selector: str, *, start: datetime | None = None,
               end: datetime | None = None) -> Iterator[dict[str, Any]]:
        """One ``{"metric": {...}, "values": [...], "timestamps": [ms ...]}`` per series."""
        params = [("match[]", selector)]
        if start is not None:
            params.append(("start", f"{start.timestamp():.3f}"))
        if end is not None:
            params.append(("end", f"{end.timestamp():.3f}"))
        # reduce_mem_usage=1 returns raw samples without dedup at query time, so a duplicate
        # that the storage kept shows up as two samples and the audit can count it.
        params.append(("reduce_mem_usage", "1"))
        query = urllib.parse.urlencode(params)
        with _request(f"{self.url}/api/v1/export?{query}", {}, self.timeout_s,
                      self.describe()) as response:
            for raw in response:
                if raw.strip():
                    yield json.loads(raw)
