"""Contracts files as parsed mappings → validated :class:`ContractSet`, or every problem found.

The file format (TOML, read by the CLI with ``tomllib``) is documented in ``contracts/README.md``
and ``contracts/contract.schema.json``. A file holds one ``[plan]`` or several ``[[plan]]``
tables and zero or more ``[contract]``/``[[contract]]`` tables. Validation collects problems
(dotted key + message) instead of stopping at the first, so ``probe contracts validate`` can
list them all; the CLI adds the file name and line.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, datetime
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from probe.compliance.contract import (
    RATE_NAMES,
    TECHNOLOGIES,
    Contract,
    ContractSet,
    DirectionRates,
    Plan,
)
from probe.compliance.params import Params, Problem, resolve
from probe.compliance.profile import ProfileSpec
from probe.compliance.profiles import PROFILES

PLAN_KEYS = {"id", "name", "technology", "profile", "download", "upload", "rules"}
CONTRACT_KEYS = {"subscriber_id", "plan", "region", "time_zone", "start"}
RATE_KEYS = {f"{name}_mbps" for name in RATE_NAMES}


def _tables(doc: Mapping[str, Any], name: str, problems: list[Problem]) -> list[tuple[str, Any]]:
    raw = doc.get(name)
    if raw is None:
        return []
    if isinstance(raw, Mapping):
        return [(name, raw)]
    if isinstance(raw, list) and all(isinstance(t, Mapping) for t in raw):
        return [(f"{name}[{i}]", t) for i, t in enumerate(raw)]
    problems.append(Problem(name, "must be a table or an array of tables"))
    return []


def _text(table: Mapping[str, Any], key: str, where: str, problems: list[Problem],
          required: bool = True) -> str:
    value = table.get(key)
    if type(value) is str and (stripped := value.strip()):
        return stripped  # the common case first: a roster has 100 000 contracts
    if value is None:
        if required:
            problems.append(Problem(f"{where}.{key}", "is required"))
        return ""
    if not isinstance(value, str) or not value.strip():
        problems.append(Problem(f"{where}.{key}", f"must be a non-empty string, got {value!r}"))
        return ""
    return value.strip()


def _unknown(
    table: Mapping[str, Any], known: set[str], where: str, problems: list[Problem]
) -> None:
    if known.issuperset(table):
        return
    for key in table:
        if key not in known:
            problems.append(Problem(f"{where}.{key}" if where else key,
                                    f"unknown key (known: {', '.join(sorted(known))})"))


def _rates(raw: object, where: str, problems: list[Problem]) -> DirectionRates | None:
    if not isinstance(raw, Mapping):
        problems.append(Problem(where, "must be a table of rates in Mbit/s"))
        return None
    _unknown(raw, RATE_KEYS, where, problems)
    values: dict[str, float | None] = {}
    for name in RATE_NAMES:
        key = f"{name}_mbps"
        value = raw.get(key)
        if value is None:
            values[key] = None
            continue
        if (isinstance(value, bool) or not isinstance(value, int | float)
                or not math.isfinite(value) or value <= 0):
            problems.append(Problem(f"{where}.{key}", f"must be a number > 0, got {value!r}"))
            values[key] = None
            continue
        values[key] = value
    rates = DirectionRates(**values)
    order = [("minimum", rates.minimum_mbps), ("normally_available", rates.normally_available_mbps),
             ("maximum", rates.maximum_mbps)]
    present = [(n, v) for n, v in order if v is not None]
    for (low_name, low), (high_name, high) in pairwise(present):
        if low > high:
            problems.append(Problem(f"{where}.{low_name}_mbps",
                                    f"{low_name} ({low:g}) must not exceed {high_name} ({high:g})"))
    return rates


def check_profile(plan: Plan, spec: ProfileSpec, where: str, *, ignore_unknown: bool = False,
                  ) -> Params | list[Problem]:
    """The plan's rules resolved for ``spec``, or what the plan lacks for it."""
    resolved = resolve(spec.parameters, plan.rules, f"{where}.rules",
                       ignore_unknown=ignore_unknown)
    if not isinstance(resolved, Params):
        return resolved
    problems = []
    for direction in spec.directions:
        rates = plan.rates(direction)
        if rates is None:
            continue
        for name in spec.required_rates(resolved):
            if rates.rate(name) is None:
                problems.append(Problem(f"{where}.{direction}.{name}_mbps",
                                        f"is required by profile {spec.name}"))
    return problems if problems else resolved


def _plan(table: Mapping[str, Any], where: str, problems: list[Problem]) -> Plan | None:
    _unknown(table, PLAN_KEYS, where, problems)
    before = len(problems)
    plan_id = _text(table, "id", where, problems, required=False)
    name = _text(table, "name", where, problems)
    technology = _text(table, "technology", where, problems)
    if technology and technology not in TECHNOLOGIES:
        problems.append(Problem(f"{where}.technology",
                                f"must be one of {', '.join(TECHNOLOGIES)}, got {technology!r}"))
    profile = _text(table, "profile", where, problems)
    if profile and profile not in PROFILES:
        problems.append(Problem(f"{where}.profile",
                                f"unknown profile {profile!r} (known: {', '.join(PROFILES)})"))
    if "download" not in table:
        problems.append(Problem(f"{where}.download", "is required"))
    down = _rates(table.get("download", {}), f"{where}.download", problems)
    up = _rates(table["upload"], f"{where}.upload", problems) if "upload" in table else None
    rules = table.get("rules", {})
    if not isinstance(rules, Mapping):
        problems.append(Problem(f"{where}.rules", "must be a table"))
    if profile in PROFILES and isinstance(rules, Mapping):
        resolved = resolve(PROFILES[profile].parameters, rules, f"{where}.rules")
        if not isinstance(resolved, Params):
            problems.extend(resolved)
    if len(problems) > before or down is None:
        return None
    plan = Plan(plan_id or name, name, technology, profile, down, up, dict(rules))
    checked = check_profile(plan, PROFILES[profile], where)
    if not isinstance(checked, Params):
        problems.extend(checked)
        return None
    return plan


def _contract(table: Mapping[str, Any], where: str, plans: Mapping[str, Plan],
              declared: int, problems: list[Problem]) -> Contract | None:
    """``declared``: plan tables in the file, valid or not (a bad plan is reported once)."""
    _unknown(table, CONTRACT_KEYS, where, problems)
    before = len(problems)
    subscriber = _text(table, "subscriber_id", where, problems)
    plan_ref = _text(table, "plan", where, problems, required=declared != 1)
    zone = _text(table, "time_zone", where, problems)
    region = _text(table, "region", where, problems, required=False)
    if zone:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(Problem(f"{where}.time_zone", f"unknown IANA time zone {zone!r}"))
    start = table.get("start")
    if start is not None and (isinstance(start, datetime) or not isinstance(start, date)):
        problems.append(Problem(f"{where}.start", f"must be a date like 2026-01-31, got {start!r}"))
    plan = plans.get(plan_ref) if plan_ref else next(iter(plans.values()), None)
    if plan is None and len(problems) == before and len(plans) == declared:
        known = ", ".join(plans) or "none in this file"
        problems.append(Problem(f"{where}.plan", f"no plan {plan_ref!r} (plans: {known})"))
    if len(problems) > before or plan is None:
        return None
    return Contract(subscriber, plan, zone, region, start)


def parse_document(doc: Mapping[str, Any]) -> ContractSet | list[Problem]:
    """Validate one file's mapping: plans and the contracts that refer to them."""
    problems: list[Problem] = []
    _unknown(doc, {"plan", "contract"}, "", problems)
    plans: dict[str, Plan] = {}
    plan_tables = _tables(doc, "plan", problems)
    for where, table in plan_tables:
        plan = _plan(table, where, problems)
        if plan is not None:
            if plan.id in plans:
                problems.append(Problem(f"{where}.id", f"duplicate plan id {plan.id!r}"))
            plans[plan.id] = plan
    contracts: dict[str, Contract] = {}
    tables = _tables(doc, "contract", problems)
    if not plans and not tables and not problems:
        problems.append(Problem("plan", "is required: the file has no [plan] table"))
    for where, table in tables:
        contract = _contract(table, where, plans, len(plan_tables), problems)
        if contract is not None:
            if contract.subscriber_id in contracts:
                problems.append(Problem(f"{where}.subscriber_id",
                                        f"duplicate subscriber {contract.subscriber_id!r}"))
            contracts[contract.subscriber_id] = contract
    return problems if problems else ContractSet(plans, contracts)
