"""``probe evaluate``: a window verdict for each contract from recorded measurements."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from probe.errors import EXIT_INCONCLUSIVE, EXIT_OK, EXIT_SHORTFALL, ContractError

PROFILE_NAMES = ("cn-miit", "de-bnetza", "eu-berec", "uk-ofcom", "us-fcc", "custom")

DESCRIPTION = """\
Compare recorded measurements with a contract under its rule profile and give the verdict:
pass (exit 0), shortfall (exit 4) or inconclusive (exit 5: too few valid measurements,
campaign incomplete, cure period running). Bad files exit 1 with one line naming file and line.

Measurements: the JSON lines `probe measure --json` prints (optionally with "subscriber_id"),
or CSV with the columns started_at,download_mbps,upload_mbps,latency_ms (optional:
subscriber_id, flags). Flagged measurements (limited by the local environment) do not count.
Days and hours are the subscriber's local calendar (time zone from the contract).

--json prints one object: verdict, profile, criteria [{id, direction, passed, detail}],
confidence (Clopper-Pearson interval on the failing share, beside the literal rule),
valid_measurements, campaign (de-bnetza). A contracts file with several contracts gives one
such object per line (JSON lines), in the file's order.
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="verdict of recorded measurements against a contract",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--contract", required=True, metavar="FILE", type=Path,
                        help="contracts TOML file with [plan] and [contract] tables")
    parser.add_argument("--measurements", required=True, metavar="FILE", type=Path,
                        help="JSON lines or CSV measurements")
    parser.add_argument("--profile", choices=PROFILE_NAMES,
                        help="rule profile to apply instead of the plan's own")
    parser.add_argument("--subscriber", metavar="ID",
                        help="evaluate only this subscriber of the contracts file")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=run)


def exit_code(verdicts: list[str]) -> int:
    if "shortfall" in verdicts:
        return EXIT_SHORTFALL
    if "inconclusive" in verdicts:
        return EXIT_INCONCLUSIVE
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    from probe.cli.contract_files import load_contracts, load_measurements
    from probe.compliance.fleet import evaluate_fleet

    contract_set = load_contracts(args.contract)
    contracts = dict(contract_set.contracts)
    if not contracts:
        raise ContractError(f"{args.contract}: contract: is required: evaluate needs a "
                            "[contract] table (subscriber_id, time_zone)")
    if args.subscriber is not None:
        if args.subscriber not in contracts:
            raise ContractError(f"{args.contract}: no contract for subscriber "
                                f"{args.subscriber!r} (has: {', '.join(contracts)})")
        contracts = {args.subscriber: contracts[args.subscriber]}
    frame = load_measurements(args.measurements)
    ids = frame["subscriber_id"].astype(str)
    stray = ids.ne("") & ~ids.isin(list(contract_set.contracts))
    if stray.any():
        # Rows for subscribers the file does not know are not evidence for anyone: say so.
        print(f"probe: warning: {int(stray.sum())} measurement(s) of subscribers not in "
              f"{args.contract} were ignored (e.g. {ids[stray].iloc[0]!r})", file=sys.stderr)
    evaluations = evaluate_fleet(frame, contracts, profile=args.profile)
    if args.json:
        for evaluation in evaluations:
            print(json.dumps(evaluation.to_json_dict(), ensure_ascii=False))
    else:
        for evaluation in evaluations:
            print(f"{evaluation.subscriber_id}: {evaluation.verdict.upper()} "
                  f"({evaluation.profile}, plan {evaluation.plan_id}, "
                  f"{evaluation.valid_measurements} valid measurements)")
            for c in evaluation.criteria:
                mark = {True: "ok  ", False: "FAIL", None: "??  "}[c.passed]
                scope = "" if c.direction == "all" else f"{c.direction}: "
                print(f"  {mark} {c.id:<18} {scope}{c.detail}")
            for conf in evaluation.confidence:
                share = "–" if conf.tests == 0 else f"{conf.failing / conf.tests:.1%}"
                print(f"  confidence {conf.direction}: {conf.failing} of {conf.tests} tests "
                      f"{conf.failing_means} ({share}); 95 % Clopper-Pearson "
                      f"[{conf.lower:.1%}, {conf.upper:.1%}]")
            if evaluation.flagged_measurements:
                print(f"  {evaluation.flagged_measurements} flagged measurement(s) not counted")
    return exit_code([e.verdict for e in evaluations])
