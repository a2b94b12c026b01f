"""``probe demo``: the README's first command. Starts a measurement server in this process on
a free loopback port, measures against it, judges the test against an example contract and
prints the result; needs nothing but loopback.

Server and client share one process and one CPU here, so the rates show this machine's
ceiling for the probe, not any line's speed. Demo data must never reach a compliance
dashboard: the record is flagged ``demo`` (never forwarded, evaluated or exported as
evidence) and goes to a throw-away store deleted on exit, unless ``--db PATH`` asks to keep it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import probe
from probe.cli.measure_cmd import add_measure_options, build_plan, keep_then_emit, run_with_display
from probe.cli.store_cmd import add_store_arguments
from probe.errors import EXIT_OK, ContractError
from probe.measurement import DEMO_FLAG

if TYPE_CHECKING:
    from probe.engine.plan import Progress
    from probe.measurement import Measurement

DEFAULT_DEMO_DURATION_S = 3.0
EXAMPLE_CONTRACT = "cn-ftth-300.toml"

DESCRIPTION = f"""\
Start a measurement server on a free port of 127.0.0.1 inside this process, measure latency,
download and upload against it, check the test against a contract (default: the example
{EXAMPLE_CONTRACT}, a 300/30 Mbit/s FTTH plan under cn-miit) and print the result.

Nothing leaves the machine. Because server and client share one process and CPU, the figures
are the probe's own loopback ceiling, not a broadband line's speed. The record is flagged
"demo": it is never forwarded, counted by probe evaluate or exported as evidence. It is kept
in a throw-away store that is deleted on exit (your real store is not touched) unless you pass
--db PATH; --no-store keeps nothing.
"""
JSON_HELP = ('print one JSON object: the measurement record plus "check" (the per-test '
             'verdict) and "stored_in" (null for the throw-away store)')


def example_contract_path() -> Path:
    """The bundled example contract: in a wheel under probe/, in a checkout under contracts/."""
    package_dir = Path(probe.__file__).resolve().parent
    for candidate in (package_dir / "example_contracts" / EXAMPLE_CONTRACT,
                      package_dir.parent / "contracts" / EXAMPLE_CONTRACT):
        if candidate.is_file():
            return candidate
    raise ContractError(f"the example contract {EXAMPLE_CONTRACT} is not installed; "
                        "pass one with --contract FILE")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "demo", help="measure against a server started on loopback (no setup needed)",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_measure_options(parser, default_duration_s=DEFAULT_DEMO_DURATION_S, json_help=JSON_HELP)
    parser.add_argument("--contract", type=Path, metavar="FILE",
                        help=f"contract to check against (default: the example {EXAMPLE_CONTRACT})")
    add_store_arguments(parser, db_help="keep the demo record in this store (default: a "
                        "throw-away store, deleted on exit); it stays flagged demo")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    import dataclasses
    import functools
    import tempfile

    from probe.cli.check_cmd import render_test_verdict
    from probe.cli.contract_files import load_contracts, require_file
    from probe.client import run_measurement
    from probe.compliance.check import check_measurement
    from probe.compliance.labels import fleet_labels
    from probe.server import ServerConfig, start_server

    contract_path = args.contract or example_contract_path()
    require_file(contract_path, "contracts")
    contract = next(iter(load_contracts(contract_path).contracts.values()), None)
    if contract is None:
        raise ContractError(f"{contract_path}: has no [contract] to check against")
    plan = build_plan(args)

    async def demo(on_progress: Callable[[Progress], None] | None) -> Measurement:
        server = await start_server(ServerConfig(host="127.0.0.1", port=0))
        try:
            record = await run_measurement(plan, server.url, on_progress=on_progress)
        finally:
            await server.close()
        return dataclasses.replace(record, flags=(*record.flags, DEMO_FLAG))

    record = run_with_display(demo, show_progress=not args.json)
    verdict = check_measurement(contract, record)
    emit = functools.partial(
        keep_then_emit, record,
        json_body={**record.to_json_dict(), "check": verdict.to_json_dict()},
        text_extra=render_test_verdict(verdict, contract.plan.id),
        subscriber_id=contract.subscriber_id, contract_ref=contract.plan.id,
        verdict=verdict.verdict,
        fleet=fleet_labels(contract, record.started_at, profile=None).to_json_dict())
    if args.db is not None or args.no_store:
        emit(args)
        return EXIT_OK
    with tempfile.TemporaryDirectory(prefix="probe-demo-") as scratch:
        # Never the default store: demo data must not sit beside evidence.
        emit(argparse.Namespace(**{**vars(args), "db": str(Path(scratch) / "probe.db")}),
             stored_note="a throw-away store, deleted now (--db PATH keeps demo records)",
             report_path=False)
    return EXIT_OK
