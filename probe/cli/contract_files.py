"""Reading contract files (TOML) for the CLI.

The compliance core takes parsed mappings; this module does the file I/O and turns every
failure into one line naming the file, the key and the line where known:
``contracts/de.toml:12: plan.download.minimum_mbps: minimum (700) must not exceed ...``.
Measurement files are read by :mod:`probe.cli.measurement_files`.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from probe.compliance.contract import ContractSet
from probe.compliance.document import parse_document
from probe.errors import ContractError, UsageError

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


def require_file(path: Path, what: str) -> None:
    """A file named on the command line that does not exist is a bad argument (exit 2), as
    in ``probe contracts validate``; the commands call this before loading it."""
    if not path.exists():
        raise UsageError(f"{path}: no such {what} file")
    if path.is_dir():
        raise UsageError(f"{path}: is a directory, not a {what} file")


def load_contracts(path: Path) -> ContractSet:
    """The validated contracts of one file; ContractError (first problem) otherwise."""
    parsed, problems = check_contract_file(path)
    if parsed is None:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ContractError(f"{problems[0]}{more}")
    return parsed
