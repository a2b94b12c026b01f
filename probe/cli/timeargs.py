"""The ``--since``/``--until``/``--from``/``--to`` text the store and report commands share.

An ISO 8601 time with offset, a plain date (that UTC calendar day) or an age (``7d``) becomes
an aware UTC instant; anything else is one usage error naming the flag.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from probe.errors import RecordFormatError, UsageError
from probe.measurement import parse_utc

_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
WHEN_HELP = ("an ISO 8601 time with offset (2026-03-01T18:00Z), a plain date (2026-03-01: "
             "that UTC calendar day) or an age (90m, 24h, 7d, 2w)")


def parse_when(text: str | None, flag: str, *, end: bool = False,
               now: datetime | None = None) -> datetime | None:
    """An aware UTC instant from ``--since``/``--until`` text (see WHEN_HELP).

    A plain date is 00:00 UTC of that day; for ``--until`` (``end``) it is 00:00 of the next
    day, so the whole day is included (``--until`` is exclusive).
    """
    if text is None:
        return None
    match = _RELATIVE.match(text)
    if match:
        seconds = float(match.group(1)) * _UNIT_S[match.group(2)]
        return (now or datetime.now(UTC)) - timedelta(seconds=seconds)
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        pass
    else:
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return start + timedelta(days=1) if end else start
    try:
        return parse_utc(text)
    except RecordFormatError:
        raise UsageError(f"{flag} {text!r}: give {WHEN_HELP}") from None
