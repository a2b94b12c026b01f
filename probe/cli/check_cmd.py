"""``probe check``: measure now and judge that one test against the subscriber's contract."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from probe.engine.plan import DEFAULT_DURATION_S
from probe.errors import EXIT_INCONCLUSIVE, EXIT_OK, EXIT_SHORTFALL, ContractError

if TYPE_CHECKING:
    from probe.compliance.verdict import TestVerdict

DESCRIPTION = """\
Measure the line now (as `probe measure` does) and check this one test against every per-test
bar of the contract's rule profile (e.g. de-bnetza: normally available and minimum rate per
direction). One test cannot establish a statutory shortfall - `probe evaluate` applies the
window rules to a series - but it says whether this test counts for or against the line.

A test flagged as limited by the local environment is not evidence of a shortfall: if it
misses a bar the verdict is inconclusive. Exit codes: 0 pass, 4 shortfall, 5 inconclusive,
3 server unreachable, 1 bad contract file, 2 bad arguments.
--json prints one object: the test verdict (verdict, profile, criteria) plus "measurement".
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from probe.cli.measure_cmd import add_measure_options
    from probe.cli.store_cmd import add_store_arguments

    parser = subparsers.add_parser(
        "check", help="measure now and judge the test against a contract",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--contract", required=True, type=Path, metavar="FILE",
                        help="contracts TOML file with [plan] and [contract]")
    parser.add_argument("--server", required=True, metavar="URL",
                        help="the measurement server, e.g. http://198.18.0.1:8080")
    parser.add_argument("--subscriber", metavar="ID",
                        help="which contract of the file (needed when it has several)")
    parser.add_argument("--profile", choices=("cn-miit", "de-bnetza", "eu-berec", "uk-ofcom",
                                              "us-fcc", "custom"),
                        help="rule profile to apply instead of the plan's own")
    parser.add_argument("--token-file", type=Path, metavar="F",
                        help="file holding the server's shared token (sent as a Bearer token)")
    add_measure_options(parser, default_duration_s=DEFAULT_DURATION_S)
    add_store_arguments(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from probe.cli.contract_files import load_contracts
    from probe.cli.measure_cmd import keep_then_emit, measure_now
    from probe.compliance.check import check_measurement, resolve_profile
    from probe.compliance.labels import fleet_labels

    contracts = load_contracts(args.contract).contracts
    if args.subscriber is not None:
        if args.subscriber not in contracts:
            raise ContractError(f"{args.contract}: no contract for subscriber "
                                f"{args.subscriber!r} (has: {', '.join(contracts) or 'none'})")
        contract = contracts[args.subscriber]
    elif len(contracts) == 1:
        contract = next(iter(contracts.values()))
    else:
        raise ContractError(f"{args.contract}: has {len(contracts)} contracts; pick one with "
                            "--subscriber" if contracts else
                            f"{args.contract}: contract: is required: check needs a [contract]")
    resolve_profile(contract, args.profile)  # a plan unfit for the profile fails before measuring
    record = measure_now(args)
    verdict = check_measurement(contract, record, profile=args.profile)
    labels = fleet_labels(contract, record.started_at, profile=args.profile)
    keep_then_emit(record, args,
                   json_body={**verdict.to_json_dict(), "measurement": record.to_json_dict()},
                   text_extra=render_test_verdict(verdict, contract.plan.id),
                   subscriber_id=contract.subscriber_id, contract_ref=contract.plan.id,
                   verdict=verdict.verdict,
                   fleet=labels.to_json_dict())
    return {"pass": EXIT_OK, "shortfall": EXIT_SHORTFALL}.get(verdict.verdict, EXIT_INCONCLUSIVE)


def render_test_verdict(verdict: TestVerdict, plan_id: str) -> str:
    """The per-test verdict for humans (also usable by ``probe demo``)."""
    lines = [f"{verdict.subscriber_id}: {verdict.verdict.upper()} ({verdict.profile}, "
             f"plan {plan_id}, this test only)"]
    for c in verdict.criteria:
        mark = {True: "ok  ", False: "FAIL", None: "??  "}[c.passed]
        scope = "" if c.direction == "all" else f"{c.direction}: "
        lines.append(f"  {mark} {c.id:<18} {scope}{c.detail}")
    return "\n".join(lines)
