"""``probe history`` (list, and ``history void``) and ``probe export``: reading the local store.

History is newest first (``--oldest-first`` to turn it); both commands take ``--since`` and
``--until`` as an ISO time with offset, a plain date (a UTC calendar day) or an age (7d), and
``--subscriber``. A voided record stays in the store with who, when and why; history shows it
as void, and ``export`` leaves voided and demo records out unless ``--all`` is given (then they
carry their marks, and ``probe evaluate`` still leaves them out).
"""

from __future__ import annotations

import argparse
import getpass
import json
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from probe.cli import argtypes
from probe.cli.store_cmd import DB_HELP, open_store, print_json, require_existing, resolve_db
from probe.cli.timeargs import WHEN_HELP, parse_when
from probe.errors import EXIT_OK, UsageError

if TYPE_CHECKING:
    from probe.store import HistoryQuery, StoredRecord

EXPORT_COLUMNS = (
    "started_at", "download_mbps", "upload_mbps", "latency_ms", "id", "probe_id",
    "subscriber_id", "contract_ref", "verdict", "server", "backend", "latency_min_ms",
    "jitter_ms", "loaded_latency_down_ms", "loaded_latency_up_ms", "download_bytes",
    "upload_bytes", "streams", "duration_s", "flags", "voided",
)
FORMAT_OF_SUFFIX = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}


def _query(args: argparse.Namespace, *, newest_first: bool, limit: int | None) -> HistoryQuery:
    from probe.store import HistoryQuery

    since = parse_when(args.since, "--since")
    until = parse_when(args.until, "--until", end=True)
    if since is not None and until is not None and since >= until:
        raise UsageError(f"--since {args.since} is not before --until {args.until}")
    return HistoryQuery(since=since, until=until, subscriber_id=args.subscriber,
                        newest_first=newest_first, limit=limit)


def _add_range(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", metavar="WHEN", help=f"started at or after WHEN: {WHEN_HELP}")
    parser.add_argument("--until", metavar="WHEN",
                        help="started before WHEN (a plain date includes that whole day)")
    parser.add_argument("--subscriber", metavar="ID", help="only this subscriber's measurements")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    history = subparsers.add_parser(
        "history", help="list stored measurements (newest first); void one",
        description="List measurements kept in the local store, NEWEST FIRST (--oldest-first "
        "to reverse). Voided records are listed as void, demo records as demo; neither is "
        "evidence. `probe history void ID --reason TEXT` marks a record as not evidence.",
    )
    _add_range(history)
    history.add_argument("--limit", type=argtypes.positive_int, metavar="N",
                         help="at most N rows (the newest N, or the oldest with --oldest-first)")
    history.add_argument("--oldest-first", action="store_true", help="oldest first")
    history.add_argument("--json", action="store_true",
                         help="print one JSON object {db, count, order, measurements: [...]}")
    history.add_argument("--db", metavar="PATH", help=DB_HELP)
    history.set_defaults(handler=history_handler)
    actions = history.add_subparsers(title="actions", metavar="ACTION")
    void = actions.add_parser(
        "void", help="mark a stored measurement as not evidence (kept, with who/when/why)",
        description="Mark a stored measurement as void: it stays in the store with who voided "
        "it, when and why (an appended fact; the record itself is not changed), is no longer "
        "forwarded, exported as evidence or counted by probe evaluate, and history shows it "
        "as void. ID is the measurement id, or a unique prefix of at least 8 characters.",
    )
    void.add_argument("measurement_id", metavar="ID")
    void.add_argument("--reason", required=True, help="why it is not evidence (kept)")
    void.add_argument("--by", help="who voids it (default: user@host)")
    void.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                      help="print the voided record as one JSON object")
    void.add_argument("--db", metavar="PATH", default=argparse.SUPPRESS, help=DB_HELP)
    void.set_defaults(handler=void_handler)

    export = subparsers.add_parser(
        "export", help="write stored measurements as JSON lines or CSV",
        description="Write stored measurements for `probe evaluate` or a spreadsheet, oldest "
        "first. jsonl: one record per line as `probe measure --json` prints it (raw samples "
        "included) plus probe_id, subscriber_id, contract_ref, verdict. csv: started_at, "
        "download_mbps, upload_mbps, latency_ms first, then the other figures (no samples). "
        "The format follows -o FILE's extension (.csv; .jsonl/.ndjson/.json) unless --format "
        "is given. Voided and demo records are left out unless --all.",
    )
    export.add_argument("--format", choices=("jsonl", "csv"),
                        help="default: from -o FILE's extension, jsonl on stdout")
    _add_range(export)
    export.add_argument("--all", action="store_true",
                        help="include voided and demo records (marked; never evidence)")
    export.add_argument("-o", "--output", metavar="FILE", help="write to FILE (default stdout)")
    export.add_argument("--db", metavar="PATH", help=DB_HELP)
    export.set_defaults(handler=export_handler)


def _state(row: StoredRecord) -> str:
    if row.voided is not None:
        return "void"
    return "demo" if row.is_demo else ""


def _num(value: object) -> str:
    return "-" if value is None else f"{float(value):.1f}"  # type: ignore[arg-type]


def history_handler(args: argparse.Namespace) -> int:
    query = _query(args, newest_first=not args.oldest_first, limit=args.limit)
    path = resolve_db(args.db)
    require_existing(path)
    with open_store(path) as store:
        rows = store.query(query)
    order = "oldest first" if args.oldest_first else "newest first"
    if args.json:
        items = []
        for row in rows:
            item = {k: v for k, v in row.to_export_dict().items() if k != "samples"}
            item["stored_at"] = row.stored_at.isoformat()
            delivered = row.delivered_at
            item["delivered_at"] = None if delivered is None else delivered.isoformat()
            item["voided"] = None if row.voided is None else row.voided.to_json_dict()
            item["demo"] = row.is_demo
            items.append(item)
        print_json({"db": str(path), "count": len(items), "order": order.replace(" ", "_"),
                    "measurements": items})
        return EXIT_OK
    print(f"{'started_at (UTC)':<20} {'down Mbit/s':>11} {'up Mbit/s':>10} {'lat ms':>7} "
          f"{'verdict':<12} {'sent':<4} {'state':<5} id")
    for row in rows:
        r = row.record
        started = str(r["started_at"])[:19].replace("T", " ")
        print(f"{started:<20} {_num(r.get('download_mbps')):>11}"
              f" {_num(r.get('upload_mbps')):>10} {_num(r.get('latency_ms')):>7} "
              f"{row.verdict or '-':<12} {'yes' if row.delivered_at else 'no':<4} "
              f"{_state(row) or '-':<5} {r['id']}")
    noun = "measurement" if len(rows) == 1 else "measurements"
    print(f"{len(rows)} {noun} in {path}, {order}", file=sys.stderr)
    return EXIT_OK


def void_handler(args: argparse.Namespace) -> int:
    path = resolve_db(getattr(args, "db", None))
    require_existing(path)
    by = args.by or f"{getpass.getuser()}@{socket.gethostname()}"
    with open_store(path) as store:
        row = store.void(args.measurement_id, by=by, reason=args.reason)
    assert row.voided is not None
    if getattr(args, "json", False):
        print_json({"id": row.measurement_id, "voided": row.voided.to_json_dict(),
                    "delivered_at": None if row.delivered_at is None
                    else row.delivered_at.isoformat()})
    else:
        print(f"voided {row.measurement_id} (started {row.record['started_at']}) by "
              f"{row.voided.voided_by} at {row.voided.voided_at.isoformat()}: "
              f"{row.voided.reason}")
        if row.delivered_at is not None:
            # The point already sent stays in the sink: a sink has no way to take it back.
            print(f"note: it was forwarded at {row.delivered_at.isoformat()}; the copy in "
                  "the sink is not removed", file=sys.stderr)
    return EXIT_OK


def export_format(args: argparse.Namespace) -> str:
    if args.format:
        return str(args.format)
    if args.output in (None, "-"):
        return "jsonl"
    suffix = Path(args.output).suffix.lower()
    if suffix not in FORMAT_OF_SUFFIX:
        raise UsageError(f"cannot tell the format from {args.output!r}: name the file .csv or "
                         ".jsonl, or pass --format jsonl|csv")
    return FORMAT_OF_SUFFIX[suffix]


def export_handler(args: argparse.Namespace) -> int:
    import csv
    import io

    fmt = export_format(args)
    query = _query(args, newest_first=False, limit=None)
    path = resolve_db(args.db)
    require_existing(path)
    buffer = io.StringIO()
    count, left_out = 0, {"voided": 0, "demo": 0}
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_COLUMNS, extrasaction="ignore",
                            lineterminator="\n")
    if fmt == "csv":
        writer.writeheader()
    with open_store(path) as store:
        for row in store.iter_query(query):
            if not (args.all or row.is_evidence):
                left_out["voided" if row.voided is not None else "demo"] += 1
                continue
            item: dict[str, Any] = row.to_export_dict()
            if fmt == "csv":
                writer.writerow({**item, "flags": ";".join(item.get("flags") or ()),
                                 "voided": "" if row.voided is None else row.voided.reason})
            else:
                buffer.write(json.dumps(item, separators=(",", ":")) + "\n")
            count += 1
    write_output(args.output, buffer.getvalue())
    skipped = [f"{n} {k}" for k, n in left_out.items() if n]
    note = f" ({' and '.join(skipped)} left out; --all includes them)" if skipped else ""
    noun = "measurement" if count == 1 else "measurements"
    print(f"exported {count} {noun} as {fmt} from {path}{note}", file=sys.stderr)
    return EXIT_OK


def write_output(output: str | None, text: str) -> None:
    import os

    from probe.errors import ConfigError

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
