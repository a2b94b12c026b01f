"""Contracts as TOML text in the format of ``contracts/README.md`` (one file per plan).

The simulator's contracts must be read back by the same loader users' files go through
(``probe contracts validate``, ``probe evaluate``, ``probe report``), so they are rendered as
text here rather than handed over as objects. Only the value types contract files use are
rendered: strings, numbers, booleans, dates and flat lists of those.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from datetime import date

from probe.compliance.contract import RATE_NAMES, Contract, DirectionRates, Plan


def plan_file_text(plan: Plan, contracts: Iterable[Contract], *, comment: str = "") -> str:
    """One ``[plan]`` table and a ``[[contract]]`` table per subscriber on it."""
    lines = [f"# {line}" for line in comment.splitlines()]
    lines += ["[plan]", f"id = {_value(plan.id)}", f"name = {_value(plan.name)}",
              f"technology = {_value(plan.technology)}", f"profile = {_value(plan.profile)}"]
    for direction in ("download", "upload"):
        rates = plan.rates(direction)
        if rates is not None:
            lines += ["", f"[plan.{direction}]", *_rate_lines(rates)]
    if plan.rules:
        lines += ["", "[plan.rules]", *(f"{k} = {_value(v)}" for k, v in plan.rules.items())]
    for c in contracts:
        lines += ["", "[[contract]]", f"subscriber_id = {_value(c.subscriber_id)}",
                  f"plan = {_value(plan.id)}", f"time_zone = {_value(c.time_zone)}"]
        if c.region:
            lines.append(f"region = {_value(c.region)}")
        if c.start is not None:
            lines.append(f"start = {c.start.isoformat()}")
    return "\n".join(lines) + "\n"


def files_by_plan(contracts: Mapping[str, Contract], *, comment: str = "") -> dict[str, str]:
    """File name (``<plan id>.toml``) → text, for every plan the contracts use."""
    members: dict[str, list[Contract]] = {}
    plans: dict[str, Plan] = {}
    for c in contracts.values():
        members.setdefault(c.plan.id, []).append(c)
        plans.setdefault(c.plan.id, c.plan)
    return {f"{pid}.toml": plan_file_text(plans[pid], members[pid], comment=comment)
            for pid in sorted(plans)}


def _rate_lines(rates: DirectionRates) -> list[str]:
    return [f"{name}_mbps = {_value(v)}" for name in RATE_NAMES
            if (v := rates.rate(name)) is not None]


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"TOML cannot hold {value!r} in a contract")
        return repr(value)
    if isinstance(value, str):
        # A JSON string is a valid TOML basic string (same escapes), non-ASCII kept as is.
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise ValueError(f"cannot write {value!r} ({type(value).__name__}) to a contract file")
