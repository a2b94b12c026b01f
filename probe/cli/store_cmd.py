"""``probe forward`` and ``probe status``: the local store's outbox and state.

Also the glue other commands call after a measurement (``store_measurement``,
``add_store_arguments``) so that ``probe measure``/``probe check`` store by default, and the
helpers ``probe history``/``probe export`` (:mod:`probe.cli.history_cmd`) share.
This module wires the SQLite store (probe.store) to the forwarder (probe.sinks); neither of
those imports the other.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
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

def add_store_arguments(parser: argparse.ArgumentParser, *, db_help: str = DB_HELP) -> None:
    """``--db PATH`` and ``--no-store`` for commands that produce measurements.

    Either may already exist on the parser (``probe measure`` declared --no-store early);
    only the missing ones are added.
    """
    existing = parser._option_string_actions
    if "--db" not in existing:
        parser.add_argument("--db", metavar="PATH", help=db_help)
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
    forward = subparsers.add_parser(
        "forward", help="deliver stored measurements to InfluxDB/VictoriaMetrics",
        formatter_class=raw, epilog=SINK_HELP,
        description="Drain the outbox of the local store into a sink, each measurement once in\n"
        "effect (timestamps are the measurement start, so replays overwrite). Runs until\n"
        "SIGTERM/Ctrl-C as a service: waits for the store to appear and for the sink to come\n"
        "back. With --once: one pass until the queue is empty or the sink fails.",
    )
    forward.add_argument("--once", action="store_true",
                         help="one pass, then exit (1 if the sink failed or refused anything)")
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

def status_handler(args: argparse.Namespace) -> int:
    path = resolve_db(args.db)
    require_existing(path)
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
        print_json(data)
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
    from probe.sinks.forwarder import ForwardPolicy
    from probe.sinks.influx import InfluxWriter  # first: a missing [influx] extra fails now

    for flag, value in (("--timeout", args.timeout), ("--interval", args.interval)):
        if not 0 < value < float("inf"):
            raise UsageError(f"{flag} must be > 0 seconds, got {value}")
    config = sink_config(args)
    path = resolve_db(args.db)
    policy = ForwardPolicy(batch_size=args.batch_size, idle_interval_s=args.interval)
    _log_events()
    if args.once or args.audit:
        require_existing(path)
        return _forward_once(args, path, config, InfluxWriter(config), policy)
    return _forward_service(args, path, lambda: InfluxWriter(config), policy,
                            f"forwarding {path} to {config.describe()}")


def _log_events() -> None:
    """One line per forwarder event on stderr; the HTTP library's own retry chatter is not one."""
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("probe forward: %(message)s"))
    events = logging.getLogger("probe")
    events.handlers[:] = [handler]
    events.setLevel(logging.INFO)
    events.propagate = False
    # urllib3 logs "Retrying (Retry(total=0 ...)) after connection broken by ..." for the one
    # resend the writer allows; the forwarder reports the outcome itself.
    logging.getLogger("urllib3").setLevel(logging.ERROR)


def _forward_once(args: argparse.Namespace, path: Path, config: SinkConfig, writer: Any,
                  policy: Any) -> int:
    from probe.cli.timeargs import parse_when
    from probe.errors import SinkError
    from probe.sinks.forwarder import Forwarder

    with open_store(path) as store:
        if args.requeue_quarantined:
            print(f"requeued {store.requeue_quarantined()} quarantined measurement(s)",
                  file=sys.stderr)
        checked = None
        try:
            if args.audit:
                from probe.sinks.audit import audit, points_for

                checked = audit(store, points_for(config, timeout_s=args.timeout),
                                since=parse_when(args.since, "--since"),
                                until=datetime.now(UTC))
                if not args.json:
                    print(f"probe forward: {checked.summary()}", file=sys.stderr)
            report = Forwarder(store, writer, policy).drain()
        finally:
            writer.close()
        left = store.status()
    summary: dict[str, Any] = {
        "delivered": report.delivered, "rejected": report.rejected,
        "quarantined": report.quarantined, "backlog": left.backlog,
        "error": None if report.failure is None else report.failure.message}
    if checked is not None:
        summary["audit"] = checked.to_json_dict()
    if args.json:
        print_json(summary)
    else:
        print(f"delivered {report.delivered}, refused {report.rejected}, quarantined "
              f"{report.quarantined}, {left.backlog} still queued", file=sys.stderr)
    if report.failure is not None:
        raise SinkError(f"{report.failure.message}; {left.backlog} measurement(s) stay queued")
    if report.rejected or report.quarantined:
        # cron and systemd see only the exit code: a refusing sink is a misconfiguration.
        raise SinkError(f"the sink refused {report.rejected + report.quarantined} "
                        f"measurement(s) ({report.quarantined} now quarantined): see "
                        "probe status")
    return EXIT_OK


def _forward_service(args: argparse.Namespace, path: Path, make_writer: Any, policy: Any,
                     banner: str) -> int:
    """Run until SIGTERM/Ctrl-C; wait for the store to appear (a service may start first)."""
    import logging
    import signal
    import threading

    from probe.sinks.forwarder import Forwarder

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if not path.exists():
        logging.getLogger("probe.sinks").info(
            "no result store at %s yet; waiting for the first measurement", path)
        while not path.exists():
            if stop.wait(min(args.interval, 1.0)):
                return EXIT_OK
    writer = make_writer()
    try:
        with open_store(path) as store:
            print(banner, file=sys.stderr)  # after the open: a damaged store is one line
            if args.requeue_quarantined:
                print(f"requeued {store.requeue_quarantined()} quarantined measurement(s)",
                      file=sys.stderr)
            Forwarder(store, writer, policy).run(stop.is_set, stop.wait)
    finally:
        writer.close()
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

def require_existing(path: Path) -> None:
    # Reading commands must not create an empty store where the user mistyped a path.
    if not path.exists():
        raise ConfigError(f"no result store at {path} (measure first, or pass --db PATH)")


def print_json(obj: dict[str, Any]) -> None:
    print(json.dumps(obj, separators=(",", ":")))
