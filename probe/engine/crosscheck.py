"""Compare records of several engines on the same line and name why they disagree.

Each record's figure is the probe's statistic over that engine's raw samples, so what is left
between engines is how they moved bytes: streams, protocol, who counted. Each engine's own
statistic (kept in ``Method.engine_*_mbps``) differs again for reasons documented per engine
(LibreSpeed's x1.06 factor, whole-run means that include the ramp-up, ...). :func:`compare`
reports, per direction, the spread between the lowest and highest figure and the reasons known
from the records; :data:`AGREEMENT_SHARE` is the spread below which engines agree (the lab
tolerance of the native engine is 3 %, and two engines each within it can differ by ~5 %).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from probe.measurement import DirectionResult, Measurement

AGREEMENT_SHARE: Final = 0.05
# Flags that say a figure may be the client's or the engine's limit rather than the line's.
LIMIT_FLAGS: Final = {
    "client_cpu_limited": "the client was CPU-bound",
    "speedtest_cli_fast_link": "speedtest-cli is known to under-read fast links (200-400 Mbit/s)",
    "upload_counted_at_client": "upload counted at the client (bytes still in socket buffers "
                                "count as sent)",
    "download_streams_ended_early": "download streams ended before the deadline",
    "upload_streams_ended_early": "upload streams ended before the deadline",
}


@dataclass(frozen=True, slots=True)
class EngineFigure:
    """One engine's figure for one direction, and what its own statistic said."""

    backend: str
    mbps: float
    engine_mbps: float | None
    streams: int
    counted_at: str
    quantity: str
    engine_statistic: str


@dataclass(frozen=True, slots=True)
class DirectionComparison:
    direction: str
    figures: tuple[EngineFigure, ...]
    spread_share: float
    agree: bool
    reasons: tuple[str, ...]

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "direction": self.direction,
            "spread_share": round(self.spread_share, 4),
            "agree": self.agree,
            "reasons": list(self.reasons),
            "figures": [
                {"backend": f.backend, "mbps": f.mbps, "engine_mbps": f.engine_mbps,
                 "streams": f.streams, "counted_at": f.counted_at, "quantity": f.quantity,
                 "engine_statistic": f.engine_statistic}
                for f in self.figures
            ],
        }


def _figure(record: Measurement, direction: str, result: DirectionResult) -> EngineFigure:
    method = record.method
    down = direction == "download"
    if method is None:
        streams, own, quantity, statistic = record.streams, None, "payload_goodput", ""
    else:
        streams = method.streams_down if down else method.streams_up
        own = method.engine_download_mbps if down else method.engine_upload_mbps
        quantity, statistic = method.quantity, method.engine_statistic
    assert result.goodput_mbps is not None  # compare() keeps only directions with a figure
    return EngineFigure(record.backend, result.goodput_mbps, own, streams, result.counted_at,
                        quantity, statistic)


def _reasons(figures: Sequence[EngineFigure], records: Sequence[Measurement],
             direction: str) -> list[str]:
    reasons: list[str] = []
    lowest = min(figures, key=lambda f: f.mbps)
    single = [f.backend for f in figures if f.streams == 1]
    multi = [f for f in figures if f.streams > 1]
    if single and multi:
        reasons.append(
            f"one stream vs several: {', '.join(single)} used 1 TCP connection, "
            f"{', '.join(f'{f.backend} {f.streams}' for f in multi)} (one stream is capped at "
            "rwnd/RTT and stalls during loss recovery)")
    counted = {f.counted_at for f in figures}
    if len(counted) > 1:
        at_client = [f.backend for f in figures if f.counted_at == "client"]
        reasons.append(f"{direction} counted at the client by {', '.join(at_client)} and at "
                       "the server by the others")
    quantities = {f.quantity for f in figures}
    if len(quantities) > 1:
        odd = [f"{f.backend} ({f.quantity})" for f in figures if f.quantity != "payload_goodput"]
        reasons.append(f"different quantities: {', '.join(odd)} vs HTTP payload goodput")
    for record in records:
        for flag in record.flags:
            note = LIMIT_FLAGS.get(flag)
            if note is not None and (not flag.startswith(("download_", "upload_"))
                                     or flag.startswith(direction)):
                reasons.append(f"{record.backend}: {note}")
    if not reasons:
        reasons.append(f"no known methodological cause; lowest was {lowest.backend} "
                       "(run again: cross-traffic or server load may differ between runs)")
    return reasons


def own_statistic_notes(records: Sequence[Measurement], share: float = AGREEMENT_SHARE
                        ) -> list[str]:
    """Where an engine's own statistic (what its website would show) differs from its record."""
    notes = []
    for record in records:
        method = record.method
        if method is None:
            continue
        for direction, reported, own in (("download", record.download_mbps,
                                          method.engine_download_mbps),
                                         ("upload", record.upload_mbps,
                                          method.engine_upload_mbps)):
            if reported and own is not None and abs(own - reported) / reported > share:
                notes.append(f"{record.backend} {direction}: its own statistic gives "
                             f"{own:.1f} Mbit/s vs {reported:.1f} ({method.engine_statistic})")
        # Statistics the engine's vendor documents besides the one it runs (Ookla's trimmed
        # mean for speedtest-cli's samples).
        notes.extend(f"{record.backend}: {n}" for n in method.notes if "trimmed mean" in n)
    return notes


def compare(records: Sequence[Measurement], share: float = AGREEMENT_SHARE
            ) -> tuple[DirectionComparison, ...]:
    """Per measured direction: the engines' figures, their spread and the known reasons."""
    out = []
    for direction in ("download", "upload"):
        pairs = [(r, getattr(r, direction)) for r in records]
        # A direction without a figure (an upload the server did not count) has nothing to compare.
        measured = [(r, d) for r, d in pairs if d is not None and d.goodput_mbps is not None]
        if len(measured) < 2:
            continue
        figures = tuple(_figure(r, direction, d) for r, d in measured)
        high = max(f.mbps for f in figures)
        low = min(f.mbps for f in figures)
        spread = 0.0 if high <= 0 else (high - low) / high
        agree = spread <= share
        reasons = () if agree else tuple(_reasons(figures, [r for r, _ in measured], direction))
        out.append(DirectionComparison(direction, figures, spread, agree, reasons))
    return tuple(out)
