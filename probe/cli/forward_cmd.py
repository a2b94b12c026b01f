"""``probe forward``: drain the local store's outbox into InfluxDB/VictoriaMetrics.

Once (``--once``, ``--audit``) or as a service until SIGTERM. This module wires the SQLite
store (probe.store) to the forwarder (probe.sinks); neither of those imports the other. The
sink flags (:func:`add_sink_arguments`, :func:`sink_config`) are shared with ``probe report``.
Registered by :mod:`probe.cli.store_cmd` (beside ``probe status``).
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from probe.cli import argtypes
from probe.cli.localstore import DB_HELP, open_store, print_json, require_existing, resolve_db
from probe.errors import EXIT_OK, UsageError
from probe.sinks.config import ENV_VARS as ENV

if TYPE_CHECKING:
    from probe.sinks.config import SinkConfig

SINK_HELP = f"""\
The sink is configured by flags or environment: --url (${ENV['url']}), --kind
(${ENV['kind']}: influxdb2 for InfluxDB 2.x/3.x/Cloud, influxdb1 for 1.8+, victoriametrics),
--bucket (${ENV['bucket']}; "db/rp" for 1.8), --org (${ENV['org']}). The token comes from
${ENV['token']} or --token-file (${ENV['token_file']}); "user:pass" for 1.8.
It is never printed.
Rows leave the outbox only after a 2xx; a line the server refuses 3 times is quarantined
(see probe status) instead of blocking the queue; outages are retried with backoff."""



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
