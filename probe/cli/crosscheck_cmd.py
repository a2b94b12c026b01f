"""``probe crosscheck``: measure one line with several engines, one after the other, and say
how far they disagree and why (docs/engines.md)."""

from __future__ import annotations

import argparse
import json
import sys
from functools import partial
from pathlib import Path
from typing import Any

from probe.cli.measure_cmd import add_backend_options, add_measure_options, engine_options
from probe.cli.store_cmd import add_store_arguments
from probe.engine.plan import DEFAULT_DURATION_S
from probe.errors import EXIT_OK, ProbeError, UsageError

DEFAULT_BACKENDS = "native,librespeed,speedtest,ndt7"

DESCRIPTION = f"""\
Run several measurement engines against the same line, one after the other (never at once:
they would share the line), then print each result and their disagreement per direction with
the reasons known from the records: one stream vs several, who counted the upload, what the
engine counts, flags such as a CPU-bound client, and where each engine's own statistic
(LibreSpeed's x1.06 factor, whole-run means with the ramp-up) would differ from its record.

--server is used by every engine (a `probe serve` server offers all of them: native,
LibreSpeed, Ookla legacy and ndt7 endpoints); --server-for NAME=URL overrides it for one
engine (iperf3 needs HOST[:PORT] of an iperf3 server). Default engines: {DEFAULT_BACKENDS}.
Engines agree when their spread is at most 5 %.

Exit codes: 0 all engines measured; otherwise the exit code of the first engine that failed
(its error is printed; the others' results still are).
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "crosscheck", help="measure with several engines and explain their disagreement",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", metavar="URL", help="server every engine uses by default")
    parser.add_argument("--backends", default=DEFAULT_BACKENDS, metavar="LIST",
                        help=f"comma-separated engines to run, in order (default "
                             f"{DEFAULT_BACKENDS})")
    parser.add_argument("--server-for", action="append", default=[], metavar="NAME=URL",
                        help="server for one engine, e.g. iperf3=198.18.0.1:5201")
    add_measure_options(parser, default_duration_s=DEFAULT_DURATION_S)
    add_backend_options(parser, choose=False)
    parser.add_argument("--token-file", metavar="F", type=Path,
                        help="token for the native engine's server")
    add_store_arguments(parser)
    parser.set_defaults(handler=handle)


def _plan_backends(args: argparse.Namespace) -> list[tuple[str, list[str]]]:
    from probe.backends import NAMES

    names = [n.strip() for n in args.backends.split(",") if n.strip()]
    unknown = [n for n in names if n not in NAMES]
    if unknown or not names:
        raise UsageError(f"unknown backend(s) {', '.join(unknown) or '(none)'}; "
                         f"choose from {', '.join(NAMES)}")
    if len(names) < 2:
        raise UsageError("a cross-check needs at least two backends")
    overrides: dict[str, str] = {}
    for item in args.server_for:
        name, sep, url = item.partition("=")
        if not sep or name not in NAMES or not url:
            raise UsageError(f"--server-for wants NAME=URL with NAME one of {', '.join(NAMES)}, "
                             f"got {item!r}")
        overrides[name] = url
    plan = []
    for name in names:
        server = overrides.get(name, args.server)
        plan.append((name, [server] if server else []))
    return plan


def handle(args: argparse.Namespace) -> int:
    from probe.backends import create
    from probe.cli.measure_cmd import build_plan, run_with_display
    from probe.engine.crosscheck import compare, own_statistic_notes

    measure_plan = build_plan(args)
    runs = _plan_backends(args)
    # Build every engine first, so a usage error (e.g. ndt7 without consent) costs no test.
    engines = [(name, create(name, engine_options(args, servers))) for name, servers in runs]
    records = []
    failures: list[tuple[str, ProbeError]] = []
    for name, engine in engines:
        if not args.json:
            print(f"-- {name} ...", file=sys.stderr, flush=True)
        try:
            record = run_with_display(partial(_start, engine, measure_plan),
                                      show_progress=not args.json)
        except ProbeError as exc:
            failures.append((name, exc))
            print(f"probe: error: {name}: {exc}", file=sys.stderr)
            continue
        records.append(record)
        if not args.no_store:
            from probe.cli.store_cmd import store_measurement

            store_measurement(record, db=args.db)
    comparisons = compare(records)
    notes = own_statistic_notes(records)
    if args.json:
        body: dict[str, Any] = {
            "records": [r.to_json_dict() for r in records],
            "comparison": [c.to_json_dict() for c in comparisons],
            "engine_statistics": notes,
            "failed": [{"backend": n, "error": str(e)} for n, e in failures],
        }
        print(json.dumps(body, ensure_ascii=False, separators=(",", ":")))
    else:
        print(render(records, comparisons, notes))
    return failures[0][1].exit_code if failures else EXIT_OK


def _start(engine: Any, plan: Any, on_progress: Any) -> Any:
    return engine.measure(plan, on_progress=on_progress)


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def render(records: list[Any], comparisons: Any, notes: list[str]) -> str:
    lines = [f"{'backend':<11} {'down Mbit/s':>12} {'up Mbit/s':>10} {'streams d/u':>11}  "
             f"engine's own d/u"]
    for r in records:
        m = r.method
        streams = "-" if m is None else f"{m.streams_down}/{m.streams_up}"
        own = "-" if m is None else (f"{_rate(m.engine_download_mbps)} / "
                                     f"{_rate(m.engine_upload_mbps)}")
        lines.append(f"{r.backend:<11} {_rate(r.download_mbps):>12} {_rate(r.upload_mbps):>10} "
                     f"{streams:>11}  {own}")
    for c in comparisons:
        verdict = "agree" if c.agree else "DISAGREE"
        lines.append(f"{c.direction}: spread {c.spread_share:.1%} -> {verdict}")
        lines.extend(f"  - {reason}" for reason in c.reasons)
    if notes:
        lines.append("engines' own statistics:")
        lines.extend(f"  - {n}" for n in notes)
    return "\n".join(lines)
