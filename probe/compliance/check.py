"""The per-test check: one measurement against one contract, without pandas or numpy.

This is what the router agent runs after each measurement (``probe check``): every per-test
bar of the contract's rule profile (e.g. de-bnetza: the normally available and the minimum
rate per direction), each with the measured number beside the bar. One test cannot establish
a statutory shortfall — the window rules in :mod:`probe.compliance.fleet` do that — but it says
whether this test counts for or against the line.

A measurement flagged as limited by the local environment (Wi-Fi, busy CPU, cross-traffic) is
not valid evidence of a shortfall: if it misses a bar its verdict is ``inconclusive``; if it
clears every bar anyway, it is a ``pass`` (the limit did not matter).
"""

from __future__ import annotations

from probe.compliance.contract import Contract
from probe.compliance.document import check_profile
from probe.compliance.params import Params
from probe.compliance.profile import hour_text
from probe.compliance.profiles import PROFILES
from probe.compliance.verdict import Criterion, TestVerdict, decide, mbps
from probe.errors import ContractError, UsageError
from probe.measurement import Measurement


def resolve_profile(contract: Contract, profile: str | None = None) -> tuple[str, Params]:
    """The profile that applies (``profile`` overrides the plan's) and its parameters."""
    name = profile or contract.plan.profile
    spec = PROFILES.get(name)
    if spec is None:
        raise UsageError(f"unknown profile {name!r} (known: {', '.join(PROFILES)})")
    params = check_profile(contract.plan, spec, f"plan {contract.plan.id!r}",
                           ignore_unknown=profile is not None)
    if not isinstance(params, Params):
        raise ContractError(f"plan does not suit profile {name}: {params[0]}")
    return name, params


def check_measurement(
    contract: Contract, measurement: Measurement, *, profile: str | None = None
) -> TestVerdict:
    """Judge one measurement against every per-test bar of the contract's profile."""
    name, params = resolve_profile(contract, profile)
    spec = PROFILES[name]
    local = measurement.started_at.astimezone(contract.zone)
    note = ""
    hours = spec.counting_hours(params)
    if hours is not None:
        # Wall-clock time of day in microseconds, compared exactly with the window's hours.
        of_day_us = ((local.hour * 60 + local.minute) * 60 + local.second) * 10**6 \
            + local.microsecond
        if not hours[0] * 3600 * 10**6 <= of_day_us < hours[1] * 3600 * 10**6:
            note = (f" (measured {local.strftime('%H:%M')} local, outside {hour_text(hours)}: "
                    "not counted by the window rule)")
    criteria = []
    for bar in spec.thresholds(contract.plan, params):
        value = {"download": measurement.download_mbps, "upload": measurement.upload_mbps,
                 "latency": measurement.latency_ms}.get(bar.direction)
        if value is None:
            criteria.append(Criterion(bar.id, bar.direction, None, f"not measured{note}"))
            continue
        passed = bar.met(value)
        shown = mbps(value) if bar.kind == "rate" else f"{value:g} ms"
        relation = "reaches" if passed else "misses"
        criteria.append(Criterion(bar.id, bar.direction, passed,
                                  f"{shown} {relation} {bar.label}{note}"))
    start = contract.start_utc()
    if start is not None and measurement.started_at < start:
        criteria.append(Criterion("contract-period", "all", None,
                                  f"measured before the contract start {contract.start}"))
    verdict = decide(tuple(criteria))
    if measurement.flags and verdict == "shortfall":
        verdict = "inconclusive"
        criteria.append(Criterion(
            "environment", "all", None,
            f"flagged as limited by the local environment ({', '.join(measurement.flags)}): "
            "not valid evidence of a shortfall"))
    return TestVerdict(contract.subscriber_id, name, verdict, tuple(criteria),
                       measurement.started_at, measurement.flags)
