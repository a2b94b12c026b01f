"""``probe check``: the guided on-site check - diagnostics, measurement, verdict, attribution,
report - and the human rendering of a per-test verdict (shared with ``probe demo``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from probe.engine.plan import DEFAULT_DURATION_S
from probe.errors import (
    EXIT_INCONCLUSIVE,
    EXIT_OK,
    EXIT_SHORTFALL,
    ConfigError,
    ContractError,
    UsageError,
)

if TYPE_CHECKING:
    from probe.compliance.attribution import Attribution, FieldCheck
    from probe.compliance.contract import Contract
    from probe.compliance.verdict import TestVerdict
    from probe.environment import HostFacts

DESCRIPTION = """\
A guided on-site check: does this line meet the contract, and if not, is it the line or the
home? Steps, with live progress: environment diagnostics (the interface towards the server,
Ethernet speed/duplex or Wi-Fi signal/band/rate, this device's own throughput ceiling from a
cached loopback self-test), idle latency, download, upload (loaded latency beside each), the
per-test verdict against every bar of the contract's rule profile, and the attribution.

Give the ISP's own (on-net) server first; a second --server (off-net) tells a shortfall on the
access line from one beyond it. The verdict judges the first server's test.

Attribution: a local cause that can explain a miss (a 100 Mbit/s port under a faster plan,
Wi-Fi, a client too slow for the plan, a busy device, other traffic) makes the verdict
inconclusive for the ISP, with the explanation and the fix; facts that could not be read are
shown as unknown, never guessed. One test cannot establish a statutory shortfall - `probe
evaluate` applies the window rules to a series.

--report DIR writes report.html and report.pdf (English and Simplified Chinese; needs the
`report` extra). --json prints one object: the test verdict (verdict, profile, criteria),
"attribution", "environment", "measurement", "offnet", "report".
Exit codes (the verdict for the ISP): 0 pass, 4 shortfall, 5 inconclusive, 3 server
unreachable, 1 bad contract file, 2 bad arguments.
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from probe.cli.measure_cmd import add_measure_options
    from probe.cli.store_cmd import add_store_arguments

    parser = subparsers.add_parser(
        "check", help="guided on-site check: verdict against a contract, and who is to blame",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--contract", required=True, type=Path, metavar="FILE",
                        help="contracts TOML file with [plan] and [contract]")
    parser.add_argument("--server", required=True, metavar="URL", action="append",
                        help="the measurement server, e.g. http://198.18.0.1:8080; give it "
                             "twice for on-net (first) and off-net (second)")
    parser.add_argument("--subscriber", metavar="ID",
                        help="which contract of the file (needed when it has several)")
    parser.add_argument("--profile", choices=("cn-miit", "de-bnetza", "eu-berec", "uk-ofcom",
                                              "us-fcc", "custom"),
                        help="rule profile to apply instead of the plan's own")
    parser.add_argument("--token-file", type=Path, metavar="F",
                        help="file holding the server's shared token (sent as a Bearer token)")
    parser.add_argument("--report", type=Path, metavar="DIR",
                        help="write report.html and report.pdf into DIR (needs the report extra)")
    parser.add_argument("--lang", choices=("en", "zh"), default="en",
                        help="language of the attribution on the terminal (default en)")
    parser.add_argument("--self-test", choices=("auto", "skip", "refresh"), default="auto",
                        help="this device's throughput ceiling: auto uses a self-test cached "
                             "for 7 days (runs one, ~5 s, when none), refresh re-runs it, "
                             "skip leaves it unknown")
    add_measure_options(parser, default_duration_s=DEFAULT_DURATION_S, json_help=(
        'print one JSON object: the test verdict (subscriber_id, verdict, profile, criteria, '
        'flags) plus "attribution", "environment", "measurement", "offnet", "report", '
        '"stored_in"'))
    add_store_arguments(parser)
    parser.set_defaults(handler=handle)


def pick_contract(path: Path, subscriber: str | None) -> Contract:
    from probe.cli.contract_files import load_contracts, require_file

    require_file(path, "contracts")
    contracts = load_contracts(path).contracts
    if subscriber is not None:
        if subscriber not in contracts:
            raise ContractError(f"{path}: no contract for subscriber "
                                f"{subscriber!r} (has: {', '.join(contracts) or 'none'})")
        return contracts[subscriber]
    if len(contracts) == 1:
        return next(iter(contracts.values()))
    raise ContractError(f"{path}: has {len(contracts)} contracts; pick one with "
                        f"--subscriber (has: {', '.join(contracts)})" if contracts else
                        f"{path}: contract: is required: check needs a [contract]")


def handle(args: argparse.Namespace) -> int:
    from probe.cli.check_run import run_check
    from probe.cli.measure_cmd import keep_then_emit
    from probe.compliance.check import resolve_profile
    from probe.compliance.labels import fleet_labels

    if len(args.server) > 2:
        raise UsageError("--server: give one (on-net) or two (on-net, then off-net) servers")
    contract = pick_contract(args.contract, args.subscriber)
    resolve_profile(contract, args.profile)  # a plan unfit for the profile fails before measuring
    if args.report is not None:
        from probe.cli.report_output import require_report_extra

        require_report_extra()
        try:  # fail before measuring, not after
            args.report.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"--report: cannot write into {args.report}: "
                              f"{exc.strerror or exc}") from None
    result = run_check(args, contract)
    report_paths = None
    if args.report is not None:
        from probe.cli.report_output import write_check_report

        report_paths = write_check_report(result, args.report)
    fleet = fleet_labels(contract, result.record.started_at, profile=args.profile).to_json_dict()
    if result.offnet is not None:
        _keep_offnet(result, args, contract)
    body = {**result.verdict.to_json_dict(), "attribution": result.attribution.to_json_dict(),
            "environment": result.facts.to_json_list(),
            "measurement": result.record.to_json_dict(),
            "offnet": None if result.offnet is None else {
                **result.offnet[1].to_json_dict(), "measurement": result.offnet[0].to_json_dict()},
            "report": None if report_paths is None else {k: str(v) for k, v in
                                                         report_paths.items()},
            "elapsed_s": round(result.elapsed_s, 2)}
    text = "\n".join([render_test_verdict(result.verdict, contract.plan.id),
                      render_attribution(result.attribution, result.facts, args.lang)])
    if report_paths:
        text += "\n" + "\n".join(f"report    {p}" for p in report_paths.values())
    keep_then_emit(result.record, args, json_body=body, text_extra=text,
                   subscriber_id=contract.subscriber_id, contract_ref=contract.plan.id,
                   verdict=result.attribution.isp_verdict, fleet=fleet)
    return {"pass": EXIT_OK, "shortfall": EXIT_SHORTFALL}.get(result.attribution.isp_verdict,
                                                              EXIT_INCONCLUSIVE)


def _keep_offnet(result: FieldCheck, args: argparse.Namespace, contract: Contract) -> None:
    from probe.cli.store_cmd import store_measurement
    from probe.errors import StoreError

    if args.no_store or result.offnet is None:
        return
    from probe.compliance.labels import fleet_labels

    record, verdict = result.offnet
    fleet = fleet_labels(contract, record.started_at, profile=args.profile).to_json_dict()
    try:
        store_measurement(record, db=args.db, subscriber_id=contract.subscriber_id,
                          contract_ref=contract.plan.id, verdict=verdict.verdict, fleet=fleet)
    except StoreError as exc:
        raise StoreError(f"off-net measurement NOT stored: {exc}") from None


def render_attribution(attribution: Attribution, facts: HostFacts, lang: str = "en") -> str:
    """The attribution for humans: the ISP's verdict, the cause, and each finding."""
    from probe.compliance.attribution_text import VERDICT_WORDS

    head = "for the ISP" if lang == "en" else "对运营商"
    lines = [f"{head}: {VERDICT_WORDS[attribution.isp_verdict][lang]} - "
             f"{attribution.summary[lang]}"]
    for finding in attribution.findings:
        mark = "!" if finding.limits else "-"
        lines.append(f"  {mark} [{finding.rule}] {finding.explanation[lang]}")
        for fact in finding.facts:
            shown = "unknown" if fact.value is None else fact.value
            lines.append(f"      {fact.name} = {shown}   ({fact.source})")
        if finding.fix:
            lines.append(f"      fix: {finding.fix[lang]}")
    return "\n".join(lines)


def render_test_verdict(verdict: TestVerdict, plan_id: str) -> str:
    """The per-test verdict for humans (also usable by ``probe demo``)."""
    lines = [f"{verdict.subscriber_id}: {verdict.verdict.upper()} ({verdict.profile}, "
             f"plan {plan_id}, this test only)"]
    for c in verdict.criteria:
        mark = {True: "ok  ", False: "FAIL", None: "??  "}[c.passed]
        scope = "" if c.direction == "all" else f"{c.direction}: "
        lines.append(f"  {mark} {c.id:<18} {scope}{c.detail}")
    return "\n".join(lines)
