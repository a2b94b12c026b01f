"""``probe evaluate``: a window verdict for each contract from recorded measurements."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from probe.errors import EXIT_INCONCLUSIVE, EXIT_OK, EXIT_SHORTFALL, ContractError

if TYPE_CHECKING:
    from probe.compliance.contract import Contract
    from probe.compliance.verdict import Evaluation

PROFILE_NAMES = ("cn-miit", "de-bnetza", "eu-berec", "uk-ofcom", "us-fcc", "custom")

DESCRIPTION = """\
Compare recorded measurements with a contract under its rule profile and give the verdict:
pass (exit 0), shortfall (exit 4) or inconclusive (exit 5: too few valid measurements,
campaign incomplete, cure period running). Bad files exit 1 with one line naming file and line.

Measurements: the JSON lines `probe measure --json` prints (optionally with "subscriber_id"),
or CSV with the columns started_at,download_mbps,upload_mbps,latency_ms (optional: id,
subscriber_id, flags; "," ";" or tab, a UTF-8 BOM is fine). Days and hours are the
subscriber's local calendar (time zone from the contract).

One measurement, one vote: a record id seen twice counts once (the same id with different
content is an error naming both lines). Rows without subscriber_id belong to the file's
contract when it has one; with several contracts they are not counted (and said so).
Every row that does not count is counted by reason: duplicate, demo, voided, before the
contract start, flagged (limited by the local environment), outside the rule's hours.

--json prints one object: verdict, profile, criteria [{id, direction, passed, detail}],
confidence (Clopper-Pearson interval on the failing share, beside the literal rule),
valid_measurements, not_counted {reason: n}, input {rows, duplicates, unlabelled,
other_subscribers, ids_checked}, campaign (de-bnetza). A contracts file with several
contracts gives one such object per line (JSON lines), in the file's order.
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
    from probe.cli.contract_files import load_contracts, require_file
    from probe.cli.measurement_files import load_measurements
    from probe.compliance.fleet import evaluate_intake
    from probe.compliance.intake import take_in

    require_file(args.contract, "contracts")
    require_file(args.measurements, "measurements")
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
    # Unlabelled rows belong to the file's contract when it has exactly one (see
    # probe.compliance.intake); picking one of several with --subscriber does not make them its.
    intake = take_in(frame, contracts,
                     unlabelled_to_sole=len(contract_set.contracts) == 1)
    if intake.counts.unlabelled:
        print(f"probe: warning: {intake.counts.unlabelled} measurement(s) without a "
              f"subscriber_id were not counted: {args.contract} has "
              f"{len(contract_set.contracts)} contracts, so they belong to none",
              file=sys.stderr)
    evaluations = evaluate_intake(intake, contracts, profile=args.profile)
    if args.json:
        for evaluation in evaluations:
            print(json.dumps({**evaluation.to_json_dict(),
                              "input": intake.counts.to_json_dict()}, ensure_ascii=False))
    else:
        for evaluation in evaluations:
            print(render_evaluation(evaluation, contracts[evaluation.subscriber_id]))
        print(f"input: {intake.counts.describe()}")
    return exit_code([e.verdict for e in evaluations])


NOT_COUNTED_TEXT = {
    "duplicate": ("duplicate", "duplicates", "(same id as another row)"),
    "demo": ("demo record", "demo records", "(probe demo: never evidence)"),
    "voided": ("voided record", "voided records", "(see probe history)"),
    "before_contract_start": ("before the contract start", "before the contract start", ""),
    "flagged": ("flagged", "flagged", "(limited by the local environment)"),
    "outside_hours": ("outside the counting hours", "outside the counting hours", ""),
}


def render_evaluation(evaluation: Evaluation, contract: Contract) -> str:
    """The window verdict for humans: verdict, criteria, confidence, rows not counted."""
    from probe.compliance.verdict import plural

    valid = evaluation.valid_measurements
    lines = [f"{evaluation.subscriber_id}: {evaluation.verdict.upper()} "
             f"({evaluation.profile}, plan {evaluation.plan_id}, "
             f"{valid} valid {plural(valid, 'measurement')})"]
    for c in evaluation.criteria:
        mark = {True: "ok  ", False: "FAIL", None: "??  "}[c.passed]
        scope = "" if c.direction == "all" else f"{c.direction}: "
        lines.append(f"  {mark} {c.id:<18} {scope}{c.detail}")
    for conf in evaluation.confidence:
        share = "–" if conf.tests == 0 else f"{conf.failing / conf.tests:.1%}"
        lines.append(f"  confidence {conf.direction}: {conf.failing} of {conf.tests} "
                     f"{plural(conf.tests, 'test')} {conf.failing_means} ({share}); 95 % "
                     f"Clopper-Pearson [{conf.lower:.1%}, {conf.upper:.1%}]")
    parts = []
    for reason, n in evaluation.not_counted:
        if n:
            one, many, why = NOT_COUNTED_TEXT[reason]
            if reason == "before_contract_start":
                why = f"({contract.start})"
            parts.append(" ".join(p for p in (str(n), one if n == 1 else many, why) if p))
    if parts:
        lines.append(f"  not counted: {'; '.join(parts)}")
    return "\n".join(lines)
