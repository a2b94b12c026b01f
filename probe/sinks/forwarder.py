"""The forwarder: drains a durable outbox into a sink, at least once, without ever blocking.

Delivery rule: entries leave the outbox (``mark_delivered``) only after the sink answered 2xx
for them. A crash between the write and that mark resends the batch on the next run; the
points are idempotent (see probe.sinks.lineprotocol), so a resend overwrites in InfluxDB and
collapses under VictoriaMetrics' dedup — "exactly once in effect".

A batch the server rejects (400/422) is bisected so good points still go through and the bad
one is isolated; a lone rejected entry is retried on later passes and quarantined after
``max_rejections`` refusals, with the server's message, instead of blocking the queue. Auth,
configuration and availability failures stop the pass; ``run`` then backs off exponentially
with jitter (never a tight loop) and keeps going across outages.

The outbox is anything with ``pending``/``mark_delivered``/``record_error`` (the SQLite store
satisfies ``Outbox`` by shape; this package never imports it).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from probe.errors import RecordFormatError
from probe.sinks.failures import WriteFailure
from probe.sinks.lineprotocol import PointSource, encode_point

log = logging.getLogger("probe.sinks")

DEFAULT_BATCH_SIZE = 5000
DEFAULT_MAX_REJECTIONS = 3
DEFAULT_BACKOFF_INITIAL_S = 1.0
DEFAULT_BACKOFF_MAX_S = 300.0
DEFAULT_IDLE_INTERVAL_S = 15.0


class OutboxEntry(PointSource, Protocol):
    """A queued measurement: its JSON figures, labels, and how often the sink refused it."""

    @property
    def outbox_id(self) -> int: ...

    @property
    def rejections(self) -> int: ...


class Outbox(Protocol):
    """The durable queue the forwarder drains (the SQLite store in production)."""

    def pending(self, limit: int, *, after: int = 0) -> Sequence[OutboxEntry]: ...

    def mark_delivered(self, ids: Sequence[int]) -> None: ...

    def record_error(
        self,
        message: str,
        *,
        rejected_ids: Sequence[int] = (),
        quarantine_ids: Sequence[int] = (),
    ) -> None: ...


class LineWriter(Protocol):
    """Sends lines; None on a 2xx (probe.sinks.influx.InfluxWriter in production)."""

    def write(self, lines: Sequence[str]) -> WriteFailure | None: ...


@dataclass(frozen=True, slots=True)
class ForwardPolicy:
    batch_size: int = DEFAULT_BATCH_SIZE
    max_rejections: int = DEFAULT_MAX_REJECTIONS
    backoff_initial_s: float = DEFAULT_BACKOFF_INITIAL_S
    backoff_max_s: float = DEFAULT_BACKOFF_MAX_S
    idle_interval_s: float = DEFAULT_IDLE_INTERVAL_S


@dataclass
class ForwardReport:
    """What one pass did; ``failure`` is set when the pass stopped early because of the sink."""

    delivered: int = 0
    rejected: int = 0
    quarantined: int = 0
    failure: WriteFailure | None = None
    messages: list[str] = field(default_factory=list)


def backoff_delay_s(failures: int, policy: ForwardPolicy, rand: Callable[[], float]) -> float:
    """Equal-jitter exponential backoff: half the capped delay fixed, half random."""
    capped = min(policy.backoff_max_s, policy.backoff_initial_s * 2 ** max(0, failures - 1))
    return float(capped / 2 + capped / 2 * rand())


class Forwarder:
    """Moves outbox entries to a sink; ``drain`` is one pass, ``run`` loops until stopped."""

    def __init__(
        self,
        outbox: Outbox,
        writer: LineWriter,
        policy: ForwardPolicy | None = None,
        *,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.outbox = outbox
        self.writer = writer
        self.policy = policy or ForwardPolicy()
        self._rand = rand

    def drain(self) -> ForwardReport:
        """Send every pending entry once, in order; stop at the first auth/config/outage.

        Pipelined: while batch k is on the wire (one writer thread, one request at a time),
        this thread marks batch k-1 delivered and reads and encodes batch k+1. Entries are
        still marked only after their own 2xx.
        """
        report = ForwardReport()
        after = 0
        in_flight: tuple[list[OutboxEntry], list[str], Future[WriteFailure | None]] | None = None
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="probe-sink") as pool:
            while True:
                entries = list(self.outbox.pending(self.policy.batch_size, after=after))
                if entries:
                    after = entries[-1].outbox_id
                sendable, lines = self._encode(entries, report)
                failure = None
                done: tuple[list[OutboxEntry], list[str], WriteFailure | None] | None = None
                if in_flight is not None:
                    done = (in_flight[0], in_flight[1], in_flight[2].result())
                    in_flight = None
                    if done[2] is not None:
                        # Rare path (refusal or outage): settle it before sending more.
                        failure = self._settle(done[0], done[1], done[2], report)
                        done = None
                if failure is None and sendable:
                    in_flight = (sendable, lines, pool.submit(self.writer.write, lines))
                if done is not None:
                    self.outbox.mark_delivered([e.outbox_id for e in done[0]])
                    report.delivered += len(done[0])
                if failure is not None:
                    report.failure = failure
                    self.outbox.record_error(failure.message)
                    return report
                if in_flight is None and not entries:
                    return report

    def run(self, should_stop: Callable[[], bool], wait: Callable[[float], object]) -> None:
        """Drain forever: idle when the queue is empty, back off while the sink fails.

        ``wait(seconds)`` sleeps (an Event.wait, so a signal can cut it short).
        """
        failures = 0
        while not should_stop():
            report = self.drain()
            if report.failure is None:
                if failures:
                    log.info("sink reachable again; delivered %d", report.delivered)
                failures = 0
                wait(self.policy.idle_interval_s)
                continue
            failures += 1
            delay = backoff_delay_s(failures, self.policy, self._rand)
            if report.failure.retry_after_s is not None:
                delay = max(delay, min(report.failure.retry_after_s, self.policy.backoff_max_s))
            log.warning("%s; next try in %.0f s", report.failure.message, delay)
            wait(delay)

    def _encode(
        self, entries: list[OutboxEntry], report: ForwardReport
    ) -> tuple[list[OutboxEntry], list[str]]:
        """Lines for the entries; an entry that cannot be encoded is quarantined at once."""
        lines: list[str] = []
        sendable: list[OutboxEntry] = []
        poison: list[int] = []
        for entry in entries:
            try:
                lines.append(encode_point(entry))
                sendable.append(entry)
            except RecordFormatError as exc:
                poison.append(entry.outbox_id)
                self._note(report, f"measurement {entry.figures.get('id')!r} quarantined: {exc}")
        if poison:
            report.quarantined += len(poison)
            self.outbox.record_error(
                f"cannot encode: {len(poison)} entries quarantined", quarantine_ids=poison
            )
        return sendable, lines

    def _write(
        self, entries: list[OutboxEntry], lines: list[str], report: ForwardReport
    ) -> WriteFailure | None:
        return self._settle(entries, lines, self.writer.write(lines), report)

    def _settle(
        self,
        entries: list[OutboxEntry],
        lines: list[str],
        failure: WriteFailure | None,
        report: ForwardReport,
    ) -> WriteFailure | None:
        """Act on one write's outcome; returns the failure that must stop the pass, if any."""
        if failure is None:
            self.outbox.mark_delivered([e.outbox_id for e in entries])
            report.delivered += len(entries)
            return None
        if failure.kind not in ("rejected", "too_large"):
            return failure
        if len(entries) > 1:
            # Bisect: the good half goes through, the bad line ends up alone.
            middle = len(entries) // 2
            first = self._write(entries[:middle], lines[:middle], report)
            if first is not None:
                return first
            return self._write(entries[middle:], lines[middle:], report)
        entry = entries[0]
        measurement_id = entry.figures.get("id")
        if entry.rejections + 1 >= self.policy.max_rejections:
            report.quarantined += 1
            self._note(report, f"measurement {measurement_id!r} quarantined after "
                               f"{entry.rejections + 1} refusals: {failure.message}")
            self.outbox.record_error(failure.message, quarantine_ids=[entry.outbox_id])
        else:
            report.rejected += 1
            self._note(report, f"measurement {measurement_id!r} refused "
                               f"({entry.rejections + 1}/{self.policy.max_rejections}): "
                               f"{failure.message}")
            self.outbox.record_error(failure.message, rejected_ids=[entry.outbox_id])
        return None

    @staticmethod
    def _note(report: ForwardReport, message: str) -> None:
        report.messages.append(message)
        log.warning("%s", message)
