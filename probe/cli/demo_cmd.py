"""``probe demo``: the README's first command. Starts a measurement server in this process on
a free loopback port, measures against it and prints the result; needs nothing but loopback.

Server and client share one process and one CPU here, so the rates show this machine's
ceiling for the probe, not any line's speed (the record is flagged ``loopback_demo``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

from probe.cli.measure_cmd import add_measure_options, build_plan, emit, run_with_display
from probe.errors import EXIT_OK

if TYPE_CHECKING:
    from probe.engine.plan import Progress
    from probe.measurement import Measurement

DEFAULT_DEMO_DURATION_S = 3.0

DESCRIPTION = """\
Start a measurement server on a free port of 127.0.0.1 inside this process, measure latency,
download and upload against it, and print the result (or one JSON object with --json).

Nothing leaves the machine. Because server and client share one process and CPU, the figures
are the probe's own loopback ceiling, not a broadband line's speed.
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "demo", help="measure against a server started on loopback (no setup needed)",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_measure_options(parser, default_duration_s=DEFAULT_DEMO_DURATION_S)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    import dataclasses

    from probe.client import run_measurement
    from probe.server import ServerConfig, start_server

    plan = build_plan(args)

    async def demo(on_progress: Callable[[Progress], None] | None) -> Measurement:
        server = await start_server(ServerConfig(host="127.0.0.1", port=0))
        try:
            record = await run_measurement(plan, server.url, on_progress=on_progress)
        finally:
            await server.close()
        return dataclasses.replace(record, flags=(*record.flags, "loopback_demo"))

    record = run_with_display(demo, show_progress=not args.json)
    emit(record, as_json=args.json)
    return EXIT_OK
