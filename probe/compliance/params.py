"""Rule-profile parameters: their declared kinds, validation, and exact values.

A plan's ``[plan.rules]`` table overrides a profile's defaults (e.g. the de-bnetza gap between the
5th and 6th measurement of a day). Each profile declares its parameters as :class:`Param`;
:func:`resolve` checks a rules table against them and returns :class:`Params`.

Shares and factors are kept as exact :class:`~fractions.Fraction` built from the decimal text of
the number (``0.9`` is 9/10, not 0.90000000000000002), so that "reached in 27 of 30 tests (90 %),
needs 90 %" passes and a rate of exactly ``0.9 × 100`` Mbit/s counts as reaching 90 Mbit/s.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from probe.compliance.contract import RATE_NAMES, RateName

Kind = Literal["share", "factor", "count", "hours", "minutes", "days", "ms", "choice", "window"]
Value = Fraction | int | str | tuple[Fraction, Fraction]


@dataclass(frozen=True, slots=True)
class Problem:
    """One validation failure: the dotted key it concerns and what is wrong with it."""

    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


@dataclass(frozen=True, slots=True)
class Param:
    """A profile parameter: its kind, default and one-line meaning (shown in the README)."""

    name: str
    kind: Kind
    default: Value | None
    doc: str
    choices: tuple[str, ...] = ()


def exact(number: float | int) -> Fraction:
    """The exact decimal a TOML number was written as (``repr`` is the shortest round-trip)."""
    if isinstance(number, int):
        return Fraction(number)
    return Fraction(repr(number))


def exact_product_mbps(factor: Fraction, rate_mbps: float) -> float:
    """``factor × rate`` computed exactly, then rounded once to the nearest float."""
    return float(factor * exact(rate_mbps))


def count_needed(share: Fraction, n: int) -> int:
    """The smallest count c with c / n >= share, in integers (no float rounding)."""
    return -((-share.numerator * n) // share.denominator)


@dataclass(frozen=True, slots=True)
class Params:
    """Resolved parameter values of one profile for one plan."""

    values: Mapping[str, Value | None]

    def share(self, name: str) -> Fraction:
        value = self.values[name]
        assert isinstance(value, Fraction), name
        return value

    def count(self, name: str) -> int:
        value = self.values[name]
        assert isinstance(value, int), name
        return value

    def seconds(self, name: str) -> Fraction:
        """A duration parameter (hours/minutes/days) in seconds, exactly."""
        value = self.values[name]
        assert isinstance(value, Fraction), name
        return value

    def choice(self, name: str) -> str:
        value = self.values[name]
        assert isinstance(value, str), name
        return value

    def rate_name(self, name: str) -> RateName:
        value = self.values[name]
        for rate in RATE_NAMES:
            if rate == value:
                return rate
        raise AssertionError(f"{name}={value!r} is not a rate name")

    def window(self, name: str) -> tuple[Fraction, Fraction] | None:
        """A local-time window [start, end) in hours, or None when not configured."""
        value = self.values[name]
        assert value is None or isinstance(value, tuple), name
        return value

    def optional_ms(self, name: str) -> Fraction | None:
        value = self.values[name]
        assert value is None or isinstance(value, Fraction), name
        return value


_SECONDS = {"hours": 3600, "minutes": 60, "days": 86400}


def _number(raw: object) -> float | int | None:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    if isinstance(raw, float) and not math.isfinite(raw):
        return None
    return raw


def _convert(param: Param, raw: object, key: str) -> Value | Problem:
    if param.kind == "choice":
        if raw not in param.choices:
            return Problem(key, f"must be one of {', '.join(param.choices)}, got {raw!r}")
        assert isinstance(raw, str)
        return raw
    if param.kind == "window":
        if not (isinstance(raw, list) and len(raw) == 2):
            return Problem(key, f"must be [start_hour, end_hour], got {raw!r}")
        ends = [_number(x) for x in raw]
        if any(e is None for e in ends):
            return Problem(key, f"hours must be numbers, got {raw!r}")
        start, end = (exact(e) for e in ends if e is not None)
        if not 0 <= start < end <= 24:
            return Problem(key, f"needs 0 <= start < end <= 24 (local hours), got {raw!r}")
        return (start, end)
    number = _number(raw)
    if number is None:
        return Problem(key, f"must be a finite number, got {raw!r}")
    if param.kind == "count":
        if not isinstance(number, int) or number < 1:
            return Problem(key, f"must be a whole number >= 1, got {raw!r}")
        return number
    value = exact(number)
    if param.kind == "share" and not 0 < value <= 1:
        return Problem(key, f"must be a share in (0, 1], got {raw!r}")
    if param.kind == "factor" and not value > 0:
        return Problem(key, f"must be > 0, got {raw!r}")
    if param.kind in ("hours", "minutes", "days", "ms") and value < 0:
        return Problem(key, f"must be >= 0, got {raw!r}")
    return value * _SECONDS.get(param.kind, 1)


def resolve(
    parameters: Mapping[str, Param], rules: Mapping[str, object], prefix: str,
    *, ignore_unknown: bool = False,
) -> Params | list[Problem]:
    """Defaults overridden by ``rules``; a list of problems if any key is unknown or invalid."""
    problems: list[Problem] = []
    values: dict[str, Value | None] = {}
    for name, param in parameters.items():
        default = param.default
        if isinstance(default, Fraction) and param.kind in _SECONDS:
            default = default * _SECONDS[param.kind]
        values[name] = default
    for name, raw in rules.items():
        key = f"{prefix}.{name}"
        found = parameters.get(name)
        if found is None:
            if not ignore_unknown:
                known = ", ".join(sorted(parameters)) or "none"
                problems.append(Problem(key, f"unknown rule parameter (known: {known})"))
            continue
        converted = _convert(found, raw, key)
        if isinstance(converted, Problem):
            problems.append(converted)
        else:
            values[name] = converted
    return problems if problems else Params(values)
