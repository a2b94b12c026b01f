"""Reading measurement files for ``probe evaluate``: JSON lines or CSV, as spreadsheets write them.

JSON lines: the objects ``probe measure --json`` prints (``probe export`` adds the labels).
CSV: the columns ``started_at, download_mbps, upload_mbps, latency_ms`` (optional ``id``,
``subscriber_id``, ``flags``, ``voided``), as ``probe export`` writes them or as a spreadsheet
saves them: a UTF-8 byte-order mark (Excel's "CSV UTF-8") is skipped, the delimiter (``,``
``;`` or tab) is taken from the header line, column names are matched without regard to case
and surrounding blanks, and with ``;`` or tab a decimal comma (``870,5``) is read as a point.

Every row keeps where it came from (``FILE:LINE``) so that an error or a duplicate names it,
and its id, so that the compliance core counts each measurement once. Demo and voided records
are kept but marked (``not_evidence``): the core counts them as left out, never as evidence.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from probe.cli.contract_files import require_file
from probe.errors import RecordFormatError
from probe.measurement import Measurement, is_demo, parse_utc

if TYPE_CHECKING:
    import pandas as pd

CSV_COLUMNS = ("started_at", "download_mbps", "upload_mbps", "latency_ms")
_DELIMITERS = (",", ";", "\t")
_DELIMITER_NAMES = {",": "','", ";": "';'", "\t": "tab"}


def _rate(value: str | None, name: str, decimal_comma: bool) -> float:
    if value is None or value.strip() == "":
        return math.nan
    text = value.strip()
    if decimal_comma and "," in text and "." not in text:
        text = text.replace(",", ".")
    try:
        number = float(text)
    except ValueError:
        raise RecordFormatError(f"{name} is not a number: {value!r}") from None
    if not math.isfinite(number) or number < 0:
        raise RecordFormatError(f"{name} must be a finite number >= 0, got {value!r}")
    return number


def sniff_delimiter(header: str) -> str:
    """The delimiter the header line uses most (``,`` when it has none of them)."""
    counts = {d: header.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _mark(flags: Any, voided: Any) -> str:
    if voided:
        return "voided"
    return "demo" if is_demo(flags) else ""


def _csv_rows(path: Path, text: str) -> Iterator[dict[str, Any]]:
    lines = text.splitlines()
    header = next((ln for ln in lines if ln.strip()), "")
    delimiter = sniff_delimiter(header)
    reader = csv.reader(lines, delimiter=delimiter)
    names = next(reader, [])
    index = {name.strip().lower(): i for i, name in enumerate(names)}
    missing = [c for c in CSV_COLUMNS if c not in index]
    if missing:
        raise RecordFormatError(
            f"{path}:1: CSV lacks the column(s) {', '.join(missing)}; the header read was "
            f"{header[:200]!r} (delimiter {_DELIMITER_NAMES[delimiter]}); needs "
            f"{','.join(CSV_COLUMNS)} (optional: id, subscriber_id, flags)")
    decimal_comma = delimiter != ","

    def cell(row: list[str], name: str) -> str:
        i = index.get(name)
        return row[i].strip() if i is not None and i < len(row) else ""

    for row in reader:
        line = reader.line_num
        if not any(c.strip() for c in row):
            continue
        try:
            flags = [f for f in cell(row, "flags").replace(",", ";").split(";") if f.strip()]
            yield {
                "id": cell(row, "id"),
                "source": f"{path}:{line}",
                "subscriber_id": cell(row, "subscriber_id"),
                "started_at": parse_utc(cell(row, "started_at")),
                "download_mbps": _rate(cell(row, "download_mbps"), "download_mbps",
                                       decimal_comma),
                "upload_mbps": _rate(cell(row, "upload_mbps"), "upload_mbps", decimal_comma),
                "latency_ms": _rate(cell(row, "latency_ms"), "latency_ms", decimal_comma),
                "flagged": bool(flags),
                "not_evidence": _mark(flags, cell(row, "voided")),
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
            "id": record.id,
            "source": f"{path}:{line}",
            "subscriber_id": str(data.get("subscriber_id") or ""),
            "started_at": record.started_at,
            "download_mbps": math.nan if record.download_mbps is None else record.download_mbps,
            "upload_mbps": math.nan if record.upload_mbps is None else record.upload_mbps,
            "latency_ms": math.nan if record.latency_ms is None else record.latency_ms,
            "flagged": bool(record.flags),
            "not_evidence": _mark(record.flags, data.get("voided")),
        }


def load_measurements(path: Path) -> pd.DataFrame:
    """Measurements from JSON lines (``probe measure --json``) or CSV, as the core's frame."""
    import pandas as pd

    from probe.compliance.frame import COLUMNS

    require_file(path, "measurements")
    try:
        # utf-8-sig: a byte-order mark (Excel's "CSV UTF-8") is not part of the first column.
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise RecordFormatError(f"{path}: cannot read: {exc}") from None
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    if not first:
        raise RecordFormatError(f"{path}: no measurements (the file is empty)")
    rows = list(_json_rows(path, text) if first.lstrip().startswith("{")
                else _csv_rows(path, text))
    if not rows:
        raise RecordFormatError(f"{path}: no measurements")
    frame = pd.DataFrame(rows, columns=[*COLUMNS, "id", "source", "not_evidence"])
    frame["started_at"] = pd.to_datetime(frame["started_at"], utc=True)
    return frame
