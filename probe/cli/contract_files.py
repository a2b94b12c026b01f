"""Reading contracts (TOML) and measurement files (JSON lines or CSV) for the CLI.

The compliance core takes parsed mappings and DataFrames; this module does the file I/O and
turns every failure into one line naming the file, the key or record, and the line where known:
``contracts/de.toml:12: plan.download.minimum_mbps: minimum (700) must not exceed ...``.
"""

from __future__ import annotations

import csv
import json
import math
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from probe.compliance.contract import ContractSet
from probe.compliance.document import parse_document
from probe.errors import ContractError, RecordFormatError
from probe.measurement import Measurement, parse_utc

if TYPE_CHECKING:
    import pandas as pd

CSV_COLUMNS = ("started_at", "download_mbps", "upload_mbps", "latency_ms")
_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_.\"' -]+?)\s*=")


@dataclass(frozen=True, slots=True)
class FileProblem:
    """A problem in one file: its dotted key (or record), line if known, and message."""

    path: str
    key: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


def key_lines(text: str) -> dict[str, int]:
    """Dotted key → first line it is set on, in the same spelling the validator uses."""
    lines: dict[str, int] = {}
    arrays: dict[str, int] = {}
    table = ""
    for number, raw in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(raw)
        if header:
            parts = [p.strip().strip("\"'") for p in header.group(2).split(".")]
            if header.group(1) == "[[":
                name = ".".join(parts)
                arrays[name] = arrays.get(name, -1) + 1
                table = f"{name}[{arrays[name]}]"
            else:
                head = parts[0]
                first = f"{head}[{arrays[head]}]" if head in arrays else head
                table = ".".join([first, *parts[1:]])
            lines.setdefault(table, number)
            continue
        key = _KEY.match(raw)
        if key:
            dotted = ".".join(p.strip().strip("\"'") for p in key.group(1).split("."))
            lines.setdefault(f"{table}.{dotted}" if table else dotted, number)
    return lines


def _line_of(key: str, lines: dict[str, int]) -> int | None:
    parts = key.split(".")
    while parts:
        found = lines.get(".".join(parts))
        if found:
            return found
        parts.pop()
    return None


def check_contract_file(path: Path) -> tuple[ContractSet | None, list[FileProblem]]:
    """Parse and validate one contracts file; never raises for a bad file."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [FileProblem(name, "", None, f"cannot read: {exc}")]
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        return None, [FileProblem(name, "", int(line.group(1)) if line else None,
                                  f"not valid TOML: {exc}")]
    parsed = parse_document(doc)
    if isinstance(parsed, ContractSet):
        return parsed, []
    lines = key_lines(text)
    return None, [FileProblem(name, p.key, _line_of(p.key, lines), p.message) for p in parsed]


def load_contracts(path: Path) -> ContractSet:
    """The validated contracts of one file; ContractError (first problem) otherwise."""
    parsed, problems = check_contract_file(path)
    if parsed is None:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ContractError(f"{problems[0]}{more}")
    return parsed


def _rate(value: str | None, name: str) -> float:
    if value is None or value.strip() == "":
        return math.nan
    try:
        number = float(value)
    except ValueError:
        raise RecordFormatError(f"{name} is not a number: {value!r}") from None
    if not math.isfinite(number) or number < 0:
        raise RecordFormatError(f"{name} must be a finite number >= 0, got {value!r}")
    return number


def _csv_rows(path: Path, text: str) -> Iterator[dict[str, Any]]:
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise RecordFormatError(f"{path}:1: CSV lacks the column(s) {', '.join(missing)} "
                                f"(needs {','.join(CSV_COLUMNS)})")
    for row in reader:
        line = reader.line_num
        try:
            yield {
                "subscriber_id": (row.get("subscriber_id") or "").strip(),
                "started_at": parse_utc(row["started_at"]),
                "download_mbps": _rate(row["download_mbps"], "download_mbps"),
                "upload_mbps": _rate(row["upload_mbps"], "upload_mbps"),
                "latency_ms": _rate(row["latency_ms"], "latency_ms"),
                "flagged": bool((row.get("flags") or "").strip()),
            }
        except RecordFormatError as exc:
            raise RecordFormatError(f"{path}:{line}: {exc}") from None


def _json_rows(path: Path, text: str) -> Iterator[dict[str, Any]]:
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
            record = Measurement.from_json_dict(data)
        except json.JSONDecodeError as exc:
            raise RecordFormatError(f"{path}:{line}: not JSON: {exc.msg}") from None
        except RecordFormatError as exc:
            raise RecordFormatError(f"{path}:{line}: {exc}") from None
        yield {
            "subscriber_id": str(data.get("subscriber_id") or ""),
            "started_at": record.started_at,
            "download_mbps": math.nan if record.download_mbps is None else record.download_mbps,
            "upload_mbps": math.nan if record.upload_mbps is None else record.upload_mbps,
            "latency_ms": math.nan if record.latency_ms is None else record.latency_ms,
            "flagged": bool(record.flags),
        }


def load_measurements(path: Path) -> pd.DataFrame:
    """Measurements from JSON lines (``probe measure --json``) or CSV, as the core's frame."""
    import pandas as pd

    from probe.compliance.frame import COLUMNS

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RecordFormatError(f"{path}: cannot read: {exc}") from None
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    if not first:
        raise RecordFormatError(f"{path}: no measurements (the file is empty)")
    rows = list(_json_rows(path, text) if first.lstrip().startswith("{")
                else _csv_rows(path, text))
    if not rows:
        raise RecordFormatError(f"{path}: no measurements")
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame["started_at"] = pd.to_datetime(frame["started_at"], utc=True)
    return frame
