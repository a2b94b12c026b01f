"""``probe`` entry point: builds the argument parser from the command modules and maps errors.

Every failure the probe can explain becomes one line on stderr (``probe: error: ...``) and the
exit code of its branch in :mod:`probe.errors`; tracebacks are for bugs only.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from probe import __version__
from probe.errors import EXIT_USAGE, ProbeError

# Order is the order shown in --help. Each module has register(subparsers) -> None and sets
# ``handler`` (args -> int exit code) on the parsers it adds.
COMMAND_MODULES: tuple[str, ...] = (
    "probe.cli.measure_cmd",
    "probe.cli.serve_cmd",
    "probe.cli.demo_cmd",
    "probe.cli.history_cmd",
    "probe.cli.store_cmd",
    "probe.cli.contracts_cmd",
    "probe.cli.evaluate_cmd",
    "probe.cli.check_cmd",
    "probe.cli.evidence_cmd",
    "probe.cli.agent_cmd",
    "probe.cli.simulate_cmd",
    "probe.cli.report_cmd",
    "probe.cli.crosscheck_cmd",
)

DESCRIPTION = """\
Measure a broadband line, compare it with the subscriber's contract, keep the evidence.

Rates are goodput in Mbit/s (10^6 bit/s of application payload). Exit codes: 0 ok,
1 failure, 2 usage, 3 server unreachable, 4 shortfall verdict, 5 inconclusive verdict.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="probe",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"probe {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(handler(args))
    except ProbeError as exc:
        print(f"probe: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except ModuleNotFoundError as exc:
        from probe.cli.extras import missing_extra

        words = [a for a in (sys.argv[1:] if argv is None else argv) if not a.startswith("-")]
        error = missing_extra(exc, " ".join(["probe", *words[:1]]))
        if error is None:
            raise  # not an optional part: a bug, keep the traceback
        print(f"probe: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("probe: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `probe history | head` closes our stdout early; that is not an error.
        return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
