"""Typed access to one table of a parsed TOML document that records problems instead of raising.

The agent's config parser (:mod:`probe.agent.config`) reads every table through a
:class:`TableReader`, so one run reports every mistake as ``dotted.key: message``
(:class:`~probe.compliance.params.Problem`), and unknown keys are named with the known ones.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from probe.compliance.params import Problem


class TableReader:
    """Typed access to one table that records problems instead of raising."""

    def __init__(self, table: Mapping[str, Any], prefix: str, problems: list[Problem],
                 known: tuple[str, ...]) -> None:
        self.table, self.prefix, self.problems = table, prefix, problems
        for key in table:
            if key not in known:
                self.problem(key, f"unknown key (known: {', '.join(known)})")

    def problem(self, key: str, message: str) -> None:
        self.problems.append(Problem(f"{self.prefix}.{key}" if self.prefix else key, message))

    def text(self, key: str, default: str | None = None, *, choices: tuple[str, ...] = (),
             required: bool = False) -> str | None:
        raw = self.table.get(key)
        if raw is None:
            if required:
                self.problem(key, "is required")
            return default
        if not isinstance(raw, str) or not raw.strip():
            self.problem(key, f"must be a non-empty string, got {raw!r}")
            return default
        if choices and raw not in choices:
            self.problem(key, f"must be one of {', '.join(choices)}, got {raw!r}")
            return default
        return raw

    def number(self, key: str, default: float | None, *, low: float = 0.0,
               high: float = math.inf, low_open: bool = False) -> float | None:
        raw = self.table.get(key)
        if raw is None:
            return default
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
            self.problem(key, f"must be a number, got {raw!r}")
            return default
        if raw < low or (low_open and raw == low) or raw > high:
            bound = f"> {low:g}" if low_open else f">= {low:g}"
            upper = "" if high == math.inf else f" and <= {high:g}"
            self.problem(key, f"must be {bound}{upper}, got {raw!r}")
            return default
        return float(raw)

    def flag(self, key: str, default: bool) -> bool:
        raw = self.table.get(key, default)
        if not isinstance(raw, bool):
            self.problem(key, f"must be true or false, got {raw!r}")
            return default
        return raw

    def sub(self, key: str, known: tuple[str, ...]) -> TableReader:
        raw = self.table.get(key, {})
        if not isinstance(raw, Mapping):
            self.problem(key, "must be a table")
            raw = {}
        return TableReader(raw, f"{self.prefix}.{key}" if self.prefix else key, self.problems,
                           known)

    def tables(self, key: str) -> list[Mapping[str, Any]]:
        raw = self.table.get(key, [])
        if not isinstance(raw, list) or not all(isinstance(t, Mapping) for t in raw):
            self.problem(key, f"must be an array of tables ([[{self.prefix}.{key}]])"
                         if self.prefix else f"must be an array of tables ([[{key}]])")
            return []
        return raw

    def http_url(self, key: str, *, required: bool = True) -> str | None:
        """An http:// or https:// URL under ``key`` (a problem otherwise)."""
        value = self.text(key, required=required)
        if value is not None and not value.startswith(("http://", "https://")):
            self.problem(key, f"must be an http:// or https:// URL, got {value!r}")
            return None
        return value
