"""Plans and subscriber contracts as frozen values (no parsing here: see ``document.py``).

A **plan** is what an ISP sells: per-direction rates as the contract states them and the rule
profile that applies. The rates follow the EU Open Internet Regulation's four figures plus the
Chinese notice's theoretical rate, which is the same number as the maximum:

- ``maximum_mbps``: the contract's maximum (DE *vertraglich vereinbarte Maximalgeschwindigkeit*)
  or theoretical rate (CN 理论速率 / 签约速率);
- ``normally_available_mbps``: the rate normally available (DE, EU);
- ``minimum_mbps``: the minimum rate (DE, EU) or minimum guaranteed download speed (UK);
- ``advertised_mbps``: the advertised rate or service tier (US).

Each is optional where a regime does not use it. A **contract** binds one subscriber to a plan
and says whose local calendar the rules count days and hours in (an IANA time zone).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Literal
from zoneinfo import ZoneInfo

from probe.errors import ContractError

Direction = Literal["download", "upload"]
DIRECTIONS: tuple[Direction, ...] = ("download", "upload")
RateName = Literal["maximum", "normally_available", "minimum", "advertised"]
RATE_NAMES: tuple[RateName, ...] = ("maximum", "normally_available", "minimum", "advertised")
TECHNOLOGIES = ("FTTH", "FTTB", "FTTC", "cable", "DSL", "5G-FWA", "LTE-FWA", "satellite", "other")


@dataclass(frozen=True, slots=True)
class DirectionRates:
    """The contract's figures for one direction, in Mbit/s; None where the plan has none."""

    maximum_mbps: float | None = None
    normally_available_mbps: float | None = None
    minimum_mbps: float | None = None
    advertised_mbps: float | None = None

    def rate(self, name: RateName) -> float | None:
        value: float | None = getattr(self, f"{name}_mbps")
        return value


@dataclass(frozen=True, slots=True)
class Plan:
    """A product as sold: rates per direction and the rule profile (with its parameters)."""

    id: str
    name: str
    technology: str
    profile: str
    download: DirectionRates
    upload: DirectionRates | None = None
    rules: Mapping[str, object] = field(default_factory=dict)

    def rates(self, direction: str) -> DirectionRates | None:
        return self.download if direction == "download" else self.upload

    def rate(self, direction: str, name: RateName) -> float:
        """A rate the validated plan must have (its profile requires it)."""
        rates = self.rates(direction)
        value = None if rates is None else rates.rate(name)
        if value is None:
            raise ContractError(f"plan {self.id!r} states no {direction} {name}_mbps")
        return value


@dataclass(frozen=True, slots=True)
class Contract:
    """One subscriber on one plan, counted in the subscriber's local calendar."""

    subscriber_id: str
    plan: Plan
    time_zone: str
    region: str = ""
    start: date | None = None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def start_utc(self) -> datetime | None:
        """Local midnight of the contract's first day in UTC; earlier measurements do not count."""
        if self.start is None:
            return None
        return datetime.combine(self.start, time(0), tzinfo=self.zone).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class ContractSet:
    """What one contracts file holds: plans by id and contracts by subscriber id."""

    plans: Mapping[str, Plan]
    contracts: Mapping[str, Contract]
