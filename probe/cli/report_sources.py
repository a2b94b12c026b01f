"""Where ``probe report`` reads from: ``sqlite:PATH``, ``parquet:DIR`` or ``influx:URL``, and
the contracts directory; each turned into the compliance core's frame or one clear error.

Composition only: the readers themselves are adapters (``probe.store``, ``probe.dataset``,
``probe.sinks.readback``) that never import each other.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from probe.compliance.contract import Contract, ContractSet
from probe.errors import ConfigError, ContractError, UsageError

if TYPE_CHECKING:
    import pandas as pd


KINDS = ("sqlite", "parquet", "influx")


@dataclass(frozen=True, slots=True)
class Source:
    kind: str
    location: str

    def describe(self) -> str:
        if self.kind == "influx":
            parts = urlsplit(self.location)
            return f"influx:{parts.scheme}://{parts.netloc}{parts.path}?{parts.query}"
        return f"{self.kind}:{self.location}"


def parse_source(text: str) -> Source:
    kind, sep, rest = text.partition(":")
    if not sep or kind not in KINDS or not rest:
        raise UsageError(f"--source {text!r}: give sqlite:PATH, parquet:DIR or "
                         "influx:http://HOST:PORT?db=NAME")
    return Source(kind, rest)


def load_contract_dir(path: Path) -> dict[str, Contract]:
    """Every contract in the ``*.toml`` files of a directory (or one file), by subscriber."""
    from probe.cli.contract_files import load_contracts

    if path.is_dir():
        files = sorted(path.rglob("*.toml"))
    elif path.is_file():
        files = [path]
    else:
        raise ContractError(f"{path}: no such contracts directory or file")
    contracts: dict[str, Contract] = {}
    origin: dict[str, Path] = {}
    for file in files:
        for sid, contract in (_parse_fast(file) or load_contracts(file)).contracts.items():
            if sid in contracts:
                raise ContractError(f"{file}: subscriber {sid!r} already has a contract in "
                                    f"{origin[sid]}")
            contracts[sid], origin[sid] = contract, file
    if not contracts:
        raise ContractError(f"{path}: no [contract] tables found in {len(files)} .toml file(s)")
    return contracts


def _parse_fast(path: Path) -> ContractSet | None:
    """The file parsed by rtoml (the fleet extra; 12x faster than tomllib on a 100 000
    contract roster) when it is installed and the file is valid; otherwise None, and the
    standard loader parses it again to name the file, line and key of any problem."""
    try:
        import rtoml
    except ImportError:
        return None
    from probe.compliance.document import parse_document

    try:
        doc = rtoml.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    parsed = parse_document(doc)
    return parsed if isinstance(parsed, ContractSet) else None


def read_source(source: Source, start: datetime | None, end: datetime | None) -> pd.DataFrame:
    """The measurements in ``[start, end)`` as the core's frame."""
    if source.kind == "parquet":
        from probe.dataset.parquet import read_measurements

        return read_measurements(Path(source.location), start=start, end=end)
    if source.kind == "sqlite":
        return _read_store(Path(source.location), start, end)
    return _read_influx(source.location, start, end)


def _read_store(path: Path, start: datetime | None, end: datetime | None) -> pd.DataFrame:
    import pandas as pd

    from probe.cli.store_cmd import open_store
    from probe.compliance.frame import COLUMNS

    if not path.is_file():
        raise ConfigError(f"no result store at {path}")
    rows = []
    with open_store(path) as store:
        for row in store.iter_history(start):
            record = row.record
            rows.append({
                "subscriber_id": row.subscriber_id or "",
                "started_at": record["started_at"],
                "download_mbps": record.get("download_mbps"),
                "upload_mbps": record.get("upload_mbps"),
                "latency_ms": record.get("latency_ms"),
                "flagged": bool(record.get("flags")),
                # Voided and demo records are never evidence: the core counts them as left out.
                "id": row.measurement_id,
                "not_evidence": "voided" if row.voided is not None
                else "demo" if row.is_demo else "",
            })
    frame = pd.DataFrame(rows, columns=[*COLUMNS, "id", "not_evidence"])
    frame["started_at"] = pd.to_datetime(frame["started_at"], utc=True, format="ISO8601")
    for name in ("download_mbps", "upload_mbps", "latency_ms"):
        frame[name] = frame[name].astype("float64")
    if end is not None:
        frame = frame[frame["started_at"] < pd.Timestamp(end)].reset_index(drop=True)
    return frame


def _read_influx(url: str, start: datetime | None, end: datetime | None) -> pd.DataFrame:
    from probe.sinks.config import ENV_VARS
    from probe.sinks.readback import InfluxQLReader, measurements_frame

    parts = urlsplit(url)
    query = parse_qs(parts.query)
    db = (query.get("db") or [""])[0]
    if parts.scheme not in ("http", "https") or not parts.hostname or not db:
        raise UsageError(f"--source influx:{url}: give influx:http://HOST:PORT?db=NAME "
                         "(optionally &rp=POLICY)")
    base = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
    reader = InfluxQLReader(base, db, rp=(query.get("rp") or [""])[0],
                            token=os.environ.get(ENV_VARS["token"], ""))
    return measurements_frame(reader.measurements(start=start, end=end))
