"""Where the lab benchmarks print their Markdown table and keep their raw records.

Raw records go to ``benchmarks/results/<name>-<UTC stamp>.json`` so that a figure quoted in
the docs can be traced to the runs behind it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def print_table(header: Sequence[str], rows: Sequence[str]) -> None:
    """A Markdown table: the header cells, a rule, then the rows as already formatted."""
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    print("\n".join(rows))


def save_raw(name: str, stamp: datetime, raw: Any) -> None:
    out = ROOT / "benchmarks" / "results" / f"{name}-{stamp:%Y%m%d-%H%M}.json"
    out.write_text(json.dumps(raw) + "\n", encoding="utf-8")
    print(f"raw records: {out.relative_to(ROOT)}")
