"""``probe contracts validate``: check contracts files before anyone relies on them."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from probe.errors import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError

DESCRIPTION = """\
Validate contracts files (TOML; format in contracts/README.md, JSON Schema in
contracts/contract.schema.json). A directory means every *.toml file in it.

Each problem is one line: FILE:LINE: KEY: what is wrong. Checks: TOML syntax, known keys,
rates > 0 with minimum <= normally available <= maximum, the rates the rule profile needs,
the profile's [plan.rules] parameters, IANA time zones, dates, plan references.
Exit 0 when every file is valid, 1 otherwise.
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "contracts", help="work with contract and plan files", description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # `probe contracts` alone shows this command's help, not the top-level one.
    parser.set_defaults(handler=lambda _args: _usage(parser))
    sub = parser.add_subparsers(title="subcommands", metavar="SUBCOMMAND")
    validate = sub.add_parser(
        "validate", help="check contracts files; one line per problem",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    validate.add_argument("paths", nargs="+", metavar="PATH", help="TOML files or directories")
    validate.add_argument("--json", action="store_true",
                          help="print one JSON object {valid, files: [...]} on stdout")
    validate.set_defaults(handler=run_validate)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_USAGE


def _files(paths: list[str]) -> list[Path]:
    out: list[Path] = []
    for text in paths:
        path = Path(text)
        if path.is_dir():
            found = sorted(path.glob("*.toml"))
            if not found:
                raise UsageError(f"{path}: no *.toml files in this directory")
            out.extend(found)
        elif path.exists():
            out.append(path)
        else:
            raise UsageError(f"{path}: no such file or directory")
    return out


def run_validate(args: argparse.Namespace) -> int:
    from probe.cli.contract_files import check_contract_file

    report = []
    valid = True
    for path in _files(args.paths):
        parsed, problems = check_contract_file(path)
        valid &= not problems
        entry: dict[str, object] = {"path": str(path), "valid": not problems,
                                    "errors": [{"key": p.key, "line": p.line,
                                                "message": p.message} for p in problems]}
        if parsed is not None:
            entry["plans"] = sorted(parsed.plans)
            entry["contracts"] = sorted(parsed.contracts)
            if not args.json:
                print(f"ok {path}: {len(parsed.plans)} plan(s), "
                      f"{len(parsed.contracts)} contract(s)")
        elif not args.json:
            for problem in problems:
                print(f"probe: error: {problem}", file=sys.stderr)
        report.append(entry)
    if args.json:
        print(json.dumps({"valid": valid, "files": report}, ensure_ascii=False))
    return EXIT_OK if valid else EXIT_FAILURE
