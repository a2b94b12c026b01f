"""``probe history``, ``probe export``, ``probe forward`` and ``probe status``: the local store.

Also the glue other commands call after a measurement (``store_measurement``,
``add_store_arguments``) so that ``probe measure``/``probe check`` store by default.
This module wires the SQLite store (probe.store) to the forwarder (probe.sinks); neither of
those imports the other.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import sys
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from probe.cli import argtypes
from probe.errors import EXIT_OK, ConfigError, UsageError
from probe.sinks.config import ENV_VARS as ENV

if TYPE_CHECKING:
    from probe.measurement import Measurement
    from probe.sinks.config import SinkConfig
    from probe.store import SqliteStore

PROBE_ID_ENV = "PROBE_ID"
CSV_COLUMNS = (
    "started_at", "download_mbps", "upload_mbps", "latency_ms", "id", "probe_id",
    "subscriber_id", "contract_ref", "verdict", "server", "backend", "latency_min_ms",
    "jitter_ms", "loaded_latency_down_ms", "loaded_latency_up_ms", "download_bytes",
    "upload_bytes", "streams", "duration_s", "flags",
)
_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

DB_HELP = "result store file (default: $PROBE_STATE_DIR/probe.db, ~/.local/state/probe/probe.db, "
DB_HELP += "or /var/lib/probe/probe.db as root)"
SINK_HELP = f"""\
The sink is configured by flags or environment: --url (${ENV['url']}), --kind
(${ENV['kind']}: influxdb2 for InfluxDB 2.x/3.x/Cloud, influxdb1 for 1.8+, victoriametrics),
--bucket (${ENV['bucket']}; "db/rp" for 1.8), --org (${ENV['org']}). The token comes from
${ENV['token']} or --token-file (${ENV['token_file']}); "user:pass" for 1.8.
It is never printed.
Rows leave the outbox only after a 2xx; a line the server refuses 3 times is quarantined
(see probe status) instead of blocking the queue; outages are retried with backoff."""


# -- glue for probe measure / probe check -------------------------------------------------------

def add_store_arguments(parser: argparse.ArgumentParser) -> None:
    """``--db PATH`` and ``--no-store`` for commands that produce measurements.

    Either may already exist on the parser (``probe measure`` declared --no-store early);
    only the missing ones are added.
    """
    existing = parser._option_string_actions
    if "--db" not in existing:
        parser.add_argument("--db", metavar="PATH", help=DB_HELP)
    if "--no-store" not in existing:
        parser.add_argument("--no-store", action="store_true",
                            help="do not keep this measurement in the local store")


def store_measurement(
    measurement: Measurement,
    *,
    db: str | None = None,
    probe_id: str | None = None,
    subscriber_id: str | None = None,
    contract_ref: str | None = None,
    verdict: str | None = None,
    fleet: Mapping[str, Any] | None = None,
) -> Path:
    """Commit one measurement to the store (creating it if needed); returns the file path."""
    path = resolve_db(db)
    with open_store(path) as store:
        store.save(measurement, probe_id=probe_id or default_probe_id(),
                   subscriber_id=subscriber_id, contract_ref=contract_ref, verdict=verdict,
                   fleet=fleet)
    return path


def default_probe_id() -> str:
    return os.environ.get(PROBE_ID_ENV) or socket.gethostname()


def resolve_db(db: str | None) -> Path:
    from probe.store import default_db_path

    return Path(db) if db else default_db_path()


def open_store(path: Path) -> SqliteStore:
    from probe.store import SqliteStore

    return SqliteStore.open(path)


def add_sink_arguments(parser: argparse.ArgumentParser) -> None:
    """--url, --kind, --bucket, --org, --token-file: where points go (see SINK_HELP)."""
    parser.add_argument("--url", help="sink URL, e.g. http://127.0.0.1:8086")
    parser.add_argument("--kind", choices=("influxdb2", "influxdb1", "victoriametrics"))
    parser.add_argument("--bucket", help="bucket (2.x/3.x) or db/rp (1.8); ignored by VM")
    parser.add_argument("--org", help="organisation (2.x/3.x)")
    parser.add_argument("--token-file", metavar="FILE", help="read the token from FILE")


def sink_config(args: argparse.Namespace) -> SinkConfig:
    """The sink of :func:`add_sink_arguments`' flags (and the environment), validated."""
    from probe.sinks.config import resolve_sink_config

    flags = {"url": args.url, "kind": args.kind, "bucket": args.bucket, "org": args.org,
             "token_file": args.token_file, "timeout": getattr(args, "timeout", None)}
    return resolve_sink_config(flags, os.environ)


# -- registration -------------------------------------------------------------------------------

def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    raw = argparse.RawDescriptionHelpFormatter
    history = subparsers.add_parser(
        "history", help="list stored measurements",
        description="List measurements kept in the local store, oldest first. --since takes an "
        "ISO 8601 time with offset (2026-03-01T00:00Z) or an age (90m, 24h, 7d, 2w).",
    )
    history.add_argument("--since", metavar="WHEN", help="only measurements started since WHEN")
    history.add_argument("--limit", type=argtypes.positive_int, metavar="N", help="at most N rows")
    history.add_argument("--json", action="store_true",
                         help="print one JSON object {db, count, measurements: [...]}")
    history.add_argument("--db", metavar="PATH", help=DB_HELP)
    history.set_defaults(handler=history_handler)

    export = subparsers.add_parser(
        "export", help="write stored measurements as JSON lines or CSV",
        description="Write stored measurements for `probe evaluate` or a spreadsheet. jsonl: one "
        "record per line as `probe measure --json` prints it (raw samples included) plus "
        "probe_id, subscriber_id, contract_ref, verdict. csv: started_at, download_mbps, "
        "upload_mbps, latency_ms first, then the other figures (no samples).",
    )
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    export.add_argument("--since", metavar="WHEN", help="ISO 8601 time with offset, or 7d/24h")
    export.add_argument("-o", "--output", metavar="FILE", help="write to FILE (default stdout)")
    export.add_argument("--db", metavar="PATH", help=DB_HELP)
    export.set_defaults(handler=export_handler)

    forward = subparsers.add_parser(
        "forward", help="deliver stored measurements to InfluxDB/VictoriaMetrics",
        formatter_class=raw, epilog=SINK_HELP,
        description="Drain the outbox of the local store into a sink, each measurement once in\n"
        "effect (timestamps are the measurement start, so replays overwrite). Runs until\n"
        "SIGTERM/Ctrl-C, or with --once until the queue is empty or the sink fails.",
    )
    forward.add_argument("--once", action="store_true",
                         help="one pass, then exit (1 if the sink failed)")
    add_sink_arguments(forward)
    forward.add_argument("--batch-size", type=argtypes.positive_int, metavar="N", default=5000)
    forward.add_argument("--timeout", type=float, metavar="S", default=10.0,
                         help="HTTP timeout per write, seconds (default 10)")
    forward.add_argument("--interval", type=float, metavar="S", default=15.0,
                         help="how often to look for new measurements when idle (default 15)")
    forward.add_argument("--requeue-quarantined", action="store_true",
                         help="give quarantined measurements another chance first")
    forward.add_argument("--audit", action="store_true",
                         help="first read back what the sink holds for this store's probes, "
                         "requeue what it lost, then send once (implies --once)")
    forward.add_argument("--since", metavar="WHEN", default="7d",
                         help="--audit: measurements started since WHEN (default 7d)")
    forward.add_argument("--json", action="store_true",
                         help="with --once: print one JSON object with the pass's counts")
    forward.add_argument("--db", metavar="PATH", help=DB_HELP)
    forward.set_defaults(handler=forward_handler)

    status = subparsers.add_parser(
        "status", help="show the store: size, backlog, last delivery, last error",
        description="Show the local store: measurements kept, outbox backlog, quarantined "
        "entries, last delivery and last sink error.",
    )
    status.add_argument("--check", action="store_true",
                        help="also run SQLite's integrity check (reads the whole file)")
    status.add_argument("--json", action="store_true", help="print one JSON object")
    status.add_argument("--db", metavar="PATH", help=DB_HELP)
    status.set_defaults(handler=status_handler)


# -- handlers -----------------------------------------------------------------------------------

def history_handler(args: argparse.Namespace) -> int:
    since = parse_since(args.since)
    path = resolve_db(args.db)
    _require_existing(path)
    with open_store(path) as store:
        rows = store.history(since, limit=args.limit)
    if args.json:
        items = []
        for row in rows:
            item = {k: v for k, v in row.to_export_dict().items() if k != "samples"}
            item["stored_at"] = row.stored_at.isoformat()
            delivered = row.delivered_at
            item["delivered_at"] = None if delivered is None else delivered.isoformat()
            items.append(item)
        _print_json({"db": str(path), "count": len(items), "measurements": items})
        return EXIT_OK
    print(f"{'started_at (UTC)':<20} {'down Mbit/s':>11} {'up Mbit/s':>10} {'lat ms':>7} "
          f"{'verdict':<12} {'sent':<4} id")
    for row in rows:
        r = row.record
        started = str(r["started_at"])[:19].replace("T", " ")
        print(f"{started:<20} {_num(r.get('download_mbps')):>11}"
              f" {_num(r.get('upload_mbps')):>10} {_num(r.get('latency_ms')):>7} "
              f"{row.verdict or '-':<12} {'yes' if row.delivered_at else 'no':<4} {r['id']}")
    print(f"{len(rows)} measurement(s) in {path}", file=sys.stderr)
    return EXIT_OK


def export_handler(args: argparse.Namespace) -> int:
    import csv
    import io

    since = parse_since(args.since)
    path = resolve_db(args.db)
    _require_existing(path)
    buffer = io.StringIO()
    count = 0
    with open_store(path) as store:
        if args.format == "csv":
            writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore",
                                    lineterminator="\n")
            writer.writeheader()
        for row in store.iter_history(since):
            item = row.to_export_dict()
            if args.format == "csv":
                writer.writerow({**item, "flags": ";".join(item.get("flags") or ())})
            else:
                buffer.write(json.dumps(item, separators=(",", ":")) + "\n")
            count += 1
    _write_output(args.output, buffer.getvalue())
    print(f"exported {count} measurement(s) from {path}", file=sys.stderr)
    return EXIT_OK


def status_handler(args: argparse.Namespace) -> int:
    path = resolve_db(args.db)
    _require_existing(path)
    with open_store(path) as store:
        status = store.status()
        problems = store.integrity_check() if args.check else None
        quarantined = store.quarantined()
        agent = store.get_state("agent")
    data: dict[str, Any] = status.to_json_dict()
    data["integrity"] = None if problems is None else ("ok" if problems == ["ok"] else problems)
    data["quarantined_entries"] = [
        {"measurement_id": mid, "error": err} for _, mid, err in quarantined[:20]
    ]
    data["agent"] = agent
    if args.json:
        _print_json(data)
    else:
        for key, value in data.items():
            if key not in ("quarantined_entries", "agent"):
                print(f"{key:<20} {'-' if value is None else value}")
        for entry in data["quarantined_entries"]:
            print(f"quarantined          {entry['measurement_id']}: {entry['error']}")
        if agent is not None:
            print(_agent_text(agent))
    if problems is not None and problems != ["ok"]:
        from probe.errors import StoreError

        raise StoreError(f"the result store {path} failed its integrity check: {problems[0]}")
    return EXIT_OK


def forward_handler(args: argparse.Namespace) -> int:
    import logging
    import signal
    import threading

    from probe.errors import SinkError
    from probe.sinks.forwarder import Forwarder, ForwardPolicy
    from probe.sinks.influx import InfluxWriter

    for flag, value in (("--timeout", args.timeout), ("--interval", args.interval)):
        if not 0 < value < float("inf"):
            raise UsageError(f"{flag} must be > 0 seconds, got {value}")
    config = sink_config(args)
    path = resolve_db(args.db)
    _require_existing(path)
    policy = ForwardPolicy(batch_size=args.batch_size, idle_interval_s=args.interval)
    with open_store(path) as store:
        if args.requeue_quarantined:
            print(f"requeued {store.requeue_quarantined()} quarantined measurement(s)",
                  file=sys.stderr)
        checked = None
        if args.audit:
            from probe.sinks.audit import audit, points_for

            since = parse_since(args.since)
            checked = audit(store, points_for(config, timeout_s=args.timeout), since=since,
                            until=datetime.now(UTC))
            if not args.json:
                print(f"probe forward: {checked.summary()}", file=sys.stderr)
        writer = InfluxWriter(config)
        try:
            forwarder = Forwarder(store, writer, policy)
            if args.once or args.audit:
                report = forwarder.drain()
                left = store.status()
            else:
                logging.basicConfig(level=logging.INFO, format="probe forward: %(message)s")
                stop = threading.Event()
                for sig in (signal.SIGTERM, signal.SIGINT):
                    signal.signal(sig, lambda *_: stop.set())
                print(f"forwarding {path} to {config.describe()}", file=sys.stderr)
                forwarder.run(stop.is_set, stop.wait)
                return EXIT_OK
        finally:
            writer.close()
    summary: dict[str, Any] = {"delivered": report.delivered, "rejected": report.rejected,
               "quarantined": report.quarantined, "backlog": left.backlog,
               "error": None if report.failure is None else report.failure.message}
    if checked is not None:
        summary["audit"] = checked.to_json_dict()
    if args.json:
        _print_json(summary)
    else:
        for message in report.messages:
            print(f"probe forward: {message}", file=sys.stderr)
        print(f"delivered {report.delivered}, refused {report.rejected}, quarantined "
              f"{report.quarantined}, {left.backlog} still queued", file=sys.stderr)
    if report.failure is not None:
        raise SinkError(f"{report.failure.message}; {left.backlog} measurement(s) stay queued")
    return EXIT_OK


def _agent_text(agent: dict[str, Any]) -> str:
    """The agent's part of `probe status` (its state row, written by probe.agent)."""
    lines = [
        f"agent tests          {agent.get('tests_run', 0)} run, {agent.get('tests_deferred', 0)}"
        f" deferred, {agent.get('tests_skipped', 0)} skipped, {agent.get('tests_failed', 0)}"
        f" failed (last skip: {agent.get('last_skip_reason') or '-'})",
        f"agent last test      {agent.get('last_test_at') or '-'}",
        f"agent next test      {agent.get('next_test_at') or '-'} "
        f"({agent.get('next_test_kind') or '-'})",
    ]
    campaign = agent.get("campaign")
    if isinstance(campaign, dict):
        state = "complete" if campaign.get("complete") else "running"
        lines.append(f"campaign             {campaign.get('profile')} {state}: "
                     f"{campaign.get('done')} of {campaign.get('needed')} measurements; "
                     f"{campaign.get('detail')}")
    return "\n".join(lines)


# -- helpers ------------------------------------------------------------------------------------

def parse_since(text: str | None, now: datetime | None = None) -> datetime | None:
    """An aware ISO 8601 time, or an age like 7d/24h/90m counted back from now."""
    if text is None:
        return None
    match = _RELATIVE.match(text)
    if match:
        seconds = float(match.group(1)) * _UNIT_S[match.group(2)]
        return (now or datetime.now(UTC)) - timedelta(seconds=seconds)
    from probe.errors import RecordFormatError
    from probe.measurement import parse_utc

    try:
        return parse_utc(text)
    except RecordFormatError:
        raise UsageError(
            f"--since {text!r}: give an ISO 8601 time with an offset (2026-03-01T00:00Z) "
            "or an age such as 90m, 24h, 7d, 2w"
        ) from None


def _require_existing(path: Path) -> None:
    # Reading commands must not create an empty store where the user mistyped a path.
    if not path.exists():
        raise ConfigError(f"no result store at {path} (measure first, or pass --db PATH)")


def _write_output(output: str | None, text: str) -> None:
    if output is None or output == "-":
        sys.stdout.write(text)
        return
    target = Path(output)
    partial = target.with_name(f".{target.name}.partial")
    try:
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, target)  # readers never see half a file
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ConfigError(f"cannot write {output}: {exc.strerror or exc}") from exc


def _print_json(obj: dict[str, Any]) -> None:
    print(json.dumps(obj, separators=(",", ":")))


def _num(value: object) -> str:
    return "-" if value is None else f"{float(value):.1f}"  # type: ignore[arg-type]

