"""A shortfall alert as a frozen value, and its wire forms (Alertmanager v2, plain JSON).

An alert is identified by its labels — ``alertname``, ``subscriber``, ``plan``, ``probe``,
``criterion`` — exactly as Alertmanager fingerprints it, so one shortfall on one criterion of
one line is one alert however often it is sent. Annotations carry the numbers (measured rate,
the bar, the retest that confirmed it). ``starts_at``/``ends_at`` are aware UTC; a firing alert
has no ``ends_at`` of its own (the Alertmanager sender gives it a hold time, see
:mod:`probe.alerts.alertmanager`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from probe.errors import RecordFormatError
from probe.measurement import parse_utc

Status = Literal["firing", "resolved"]
ALERTNAME = "BroadbandShortfall"


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert transition: ``firing`` once when confirmed, ``resolved`` once when cured."""

    status: Status
    subscriber: str
    plan: str
    probe: str
    criterion: str
    starts_at: datetime
    ends_at: datetime | None = None
    annotations: tuple[tuple[str, str], ...] = field(default=())
    alertname: str = ALERTNAME

    def __post_init__(self) -> None:
        for name in ("starts_at", "ends_at"):
            moment = getattr(self, name)
            if moment is not None and moment.utcoffset() is None:
                raise RecordFormatError(f"alert {name} must be timezone-aware")
        if self.status == "resolved" and self.ends_at is None:
            raise RecordFormatError("a resolved alert needs ends_at")

    @property
    def key(self) -> tuple[str, str]:
        """What alerts are deduplicated by: one line (subscriber) and one criterion."""
        return (self.subscriber, self.criterion)

    @property
    def labels(self) -> dict[str, str]:
        return {"alertname": self.alertname, "subscriber": self.subscriber, "plan": self.plan,
                "probe": self.probe, "criterion": self.criterion}

    @property
    def annotation_map(self) -> dict[str, str]:
        return dict(self.annotations)

    def to_json_dict(self) -> dict[str, Any]:
        """The plain JSON form (webhook body item, store row, ``--json``)."""
        return {
            "status": self.status,
            "labels": self.labels,
            "annotations": self.annotation_map,
            "starts_at": _iso(self.starts_at),
            "ends_at": None if self.ends_at is None else _iso(self.ends_at),
        }

    def to_alertmanager(self, *, ends_at: datetime | None = None) -> dict[str, Any]:
        """One item of Alertmanager's ``POST /api/v2/alerts`` body (postableAlert)."""
        item: dict[str, Any] = {"labels": self.labels, "annotations": self.annotation_map,
                                "startsAt": _iso(self.starts_at)}
        end = self.ends_at if self.ends_at is not None else ends_at
        if end is not None:
            item["endsAt"] = _iso(end)
        return item

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> Alert:
        try:
            labels = data["labels"]
            status = data["status"]
            if status not in ("firing", "resolved"):
                raise RecordFormatError(f"alert status must be firing or resolved: {status!r}")
            ends = data.get("ends_at")
            return cls(
                status=status, subscriber=str(labels["subscriber"]), plan=str(labels["plan"]),
                probe=str(labels["probe"]), criterion=str(labels["criterion"]),
                alertname=str(labels.get("alertname", ALERTNAME)),
                starts_at=parse_utc(data["starts_at"]),
                ends_at=None if ends is None else parse_utc(ends),
                annotations=tuple((str(k), str(v))
                                  for k, v in (data.get("annotations") or {}).items()),
            )
        except KeyError as exc:
            raise RecordFormatError(f"alert lacks the field {exc.args[0]!r}") from exc
        except (TypeError, AttributeError) as exc:
            raise RecordFormatError(f"alert is malformed: {exc}") from exc


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
