"""Builders for compliance tests: contracts through the real validator, rows in local time."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from probe.compliance.contract import Contract, ContractSet
from probe.compliance.document import parse_document
from probe.compliance.fleet import evaluate_fleet
from probe.compliance.verdict import Evaluation

Row = tuple[datetime, float | None, float | None, float | None, bool]

DE_DOWN = {"maximum_mbps": 1000, "normally_available_mbps": 850, "minimum_mbps": 600}
DE_UP = {"maximum_mbps": 50, "normally_available_mbps": 35, "minimum_mbps": 15}


def contract(profile: str, download: dict[str, Any], upload: dict[str, Any] | None = None,
             rules: dict[str, Any] | None = None, *, tz: str = "Europe/Berlin",
             start: date | None = None, subscriber: str = "A") -> Contract:
    """A contract built through parse_document, so every test also exercises validation."""
    plan: dict[str, Any] = {"id": "p", "name": "Plan", "technology": "cable",
                            "profile": profile, "download": download}
    if upload is not None:
        plan["upload"] = upload
    if rules:
        plan["rules"] = rules
    con: dict[str, Any] = {"subscriber_id": subscriber, "time_zone": tz}
    if start is not None:
        con["start"] = start
    parsed = parse_document({"plan": plan, "contract": con})
    assert isinstance(parsed, ContractSet), parsed
    return parsed.contracts[subscriber]


def at(local: str, tz: str = "Europe/Berlin", *, fold: int = 0) -> datetime:
    """'2026-03-02 08:00' (wall clock in tz) → aware UTC."""
    naive = datetime.fromisoformat(local)
    return naive.replace(tzinfo=ZoneInfo(tz), fold=fold).astimezone(UTC)


def frame(rows: Iterable[Row], subscriber: str = "A") -> pd.DataFrame:
    data = [{"subscriber_id": subscriber, "started_at": t,
             "download_mbps": float("nan") if d is None else d,
             "upload_mbps": float("nan") if u is None else u,
             "latency_ms": float("nan") if lat is None else lat, "flagged": flagged}
            for t, d, u, lat, flagged in rows]
    out = pd.DataFrame(data, columns=["subscriber_id", "started_at", "download_mbps",
                                      "upload_mbps", "latency_ms", "flagged"])
    out["started_at"] = pd.to_datetime(out["started_at"], utc=True)
    return out


def evaluate(con: Contract, rows: Iterable[Row], profile: str | None = None) -> Evaluation:
    return evaluate_fleet(frame(rows, con.subscriber_id), {con.subscriber_id: con},
                          profile=profile)[0]


def day_rows(day: str, down: Sequence[float | None], up: Sequence[float | None] | None = None,
             *, tz: str = "Europe/Berlin", first: str = "08:00", spacing_min: float = 10,
             gap_min: float = 180, latency: float = 10.0) -> list[Row]:
    """One local day: ``spacing_min`` between starts, ``gap_min`` between the 5th and 6th."""
    start = at(f"{day} {first}", tz)
    rows: list[Row] = []
    for k, d in enumerate(down):
        minutes = spacing_min * k if k < 5 else spacing_min * (k - 1) + gap_min
        u = None if up is None else up[k]
        rows.append((start + timedelta(minutes=minutes), d, u, latency, False))
    return rows


def campaign(days: Sequence[str], down: Sequence[Sequence[float]],
             up: Sequence[Sequence[float]] | None = None, **kw: Any) -> list[Row]:
    rows: list[Row] = []
    for i, day in enumerate(days):
        rows += day_rows(day, down[i], None if up is None else up[i], **kw)
    return rows


def by_id(evaluation: Evaluation) -> dict[tuple[str, str], bool | None]:
    return {(c.id, c.direction): c.passed for c in evaluation.criteria}
