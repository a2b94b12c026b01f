"""``probe report``: the fleet roll-up — 达标率 per plan/region/technology with intervals."""

from __future__ import annotations

import argparse
import gc
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from probe.cli import argtypes
from probe.errors import EXIT_OK, UsageError

if TYPE_CHECKING:
    import pandas as pd

    from probe.compliance.contract import Contract
    from probe.compliance.verdict import Evaluation

FORMATS = ("table", "json", "csv", "html")
WRITE_BATCH = 5000
PROFILE_NAMES = ("cn-miit", "de-bnetza", "eu-berec", "uk-ofcom", "us-fcc", "custom")

DESCRIPTION = """\
Evaluate every subscriber's window verdict with the same rule functions as `probe evaluate`
and roll them up into 达标率 per group, with exact (Clopper-Pearson) 95 % intervals:

  compliant subscribers  pass / (pass + shortfall); inconclusive ones are shown apart
  compliant tests        per direction, tests the rule counted that reached its primary bar

Sources: sqlite:PATH (a probe result store), parquet:DIR (a Parquet dataset, e.g. from
`probe simulate`), influx:http://HOST:PORT?db=NAME[&rp=POLICY] (InfluxQL; the token, user:pass
for 1.x, from $PROBE_INFLUX_TOKEN). --contracts is a directory of contract TOML files (or one
file); measurements of subscribers without a contract are ignored (and counted).

--from/--to take ISO 8601 times with an offset (2026-03-01T00:00Z) or ages (7d, 24h); the
window is [from, to). --engine dask evaluates a Parquet source partitioned by subscriber on
dask.distributed (--workers N local processes, or --scheduler ADDRESS of a running cluster).

--by period judges every subscriber a second and third time on only its peak-hour tests and
only its off-peak ones (the period of each test as its broadband point is tagged: the
profile's peak hours, else 19:00-23:00 local), with the same rules; a period with too few tests
is inconclusive. The whole-fleet row and the shortfalls stay the whole-window verdicts.

--write-back also writes every subscriber's window verdict to the sink as its own
measurement (broadband_window, docs/data-model.md), stamped with the window's end (--to, or
the last measurement read), so a re-run over the same window replaces its points; and the
verdicts per period, as points tagged period=peak / period=off_peak. The sink
flags are those of `probe forward` (--url, --kind, --bucket, --org, --token-file, or the
PROBE_INFLUX_* environment); InfluxDB 1.x needs 1.8+ (/api/v2/write).

Exit 0 when the report was made, whatever the verdicts; 1 or 2 on bad input.
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "report", help="fleet roll-up: 达标率 by plan, region, technology",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--source", required=True, metavar="KIND:WHERE",
                        help="sqlite:PATH, parquet:DIR or influx:URL?db=NAME")
    parser.add_argument("--contracts", required=True, type=Path, metavar="DIR",
                        help="directory of contract TOML files (or one file)")
    parser.add_argument("--profile", choices=PROFILE_NAMES,
                        help="rule profile to apply instead of each plan's own")
    parser.add_argument("--by", default="plan", metavar="LIST",
                        help="comma-separated grouping: plan, region, technology, profile, "
                        "period (default plan; '' for the whole fleet only)")
    parser.add_argument("--from", dest="start", metavar="WHEN", help="window start (inclusive)")
    parser.add_argument("--to", dest="end", metavar="WHEN", help="window end (exclusive)")
    parser.add_argument("--format", choices=FORMATS, default="table")
    parser.add_argument("--json", action="store_true", help="same as --format json")
    parser.add_argument("--per-subscriber", action="store_true",
                        help="--format json: also list every subscriber's verdict and counts")
    parser.add_argument("-o", "--output", metavar="FILE", help="write to FILE (default stdout)")
    parser.add_argument("--engine", choices=("local", "dask"), default="local",
                        help="where to evaluate (dask: parquet sources only)")
    parser.add_argument("--workers", type=argtypes.positive_int, default=2, metavar="N",
                        help="--engine dask: local worker processes (default 2)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="--engine dask: a running dask scheduler, e.g. tcp://10.0.0.5:8786")
    parser.add_argument("--write-back", action="store_true",
                        help="write the window verdicts to the sink (broadband_window)")
    from probe.cli.store_cmd import add_sink_arguments

    add_sink_arguments(parser)
    parser.set_defaults(handler=run)


def _say(text: str) -> None:
    print(f"probe report: {text}", file=sys.stderr, flush=True)


def _when(text: str | None, flag: str) -> datetime | None:
    from probe.cli.timeargs import parse_when

    return parse_when(text, flag, end=flag == "--to")  # a plain --to date includes its day


def _grouping(text: str) -> list[str]:
    from probe.report.rollup import GROUP_DIMENSIONS

    by = [b.strip() for b in text.split(",") if b.strip()]
    unknown = [b for b in by if b not in GROUP_DIMENSIONS]
    if unknown:
        raise UsageError(f"--by {text!r}: choose from {', '.join(GROUP_DIMENSIONS)}")
    return by


def run(args: argparse.Namespace) -> int:
    from probe.cli.report_sources import load_contract_dir, parse_source

    began = time.perf_counter()
    fmt = "json" if args.json else args.format
    by = _grouping(args.by)
    source = parse_source(args.source)
    start, end = _when(args.start, "--from"), _when(args.end, "--to")
    if start is not None and end is not None and not start < end:
        raise UsageError(f"--from ({start.isoformat()}) must be before --to ({end.isoformat()})")
    if args.engine == "dask" and source.kind != "parquet":
        raise UsageError("--engine dask reads Parquet: use --source parquet:DIR")
    if args.write_back and args.engine == "dask" and end is None:
        raise UsageError("--write-back with --engine dask needs --to: the window end every "
                         "verdict is stamped with")
    config = None
    if args.write_back:
        from probe.cli.store_cmd import sink_config

        config = sink_config(args)  # a bad sink fails now, not after the evaluation
    contracts = load_contract_dir(args.contracts)
    # The contracts live until exit: exempt them from every later garbage collection. While
    # a fleet is evaluated, each full collection walked all 100 000 again (~2 s at 10 M rows).
    gc.freeze()
    _say(f"{len(contracts):,} contracts loaded from {args.contracts}")
    # Per period only when asked for: it is two more evaluations of the whole fleet.
    periods = "period" in by or args.write_back
    if args.engine == "dask":
        summary, per_period, meta, lines = _evaluate_dask(
            args, Path(source.location), contracts, start, end, periods=periods)
    else:
        summary, per_period, meta, lines = _evaluate_local(
            source, contracts, args.profile, start, end, write_back=args.write_back,
            periods=periods)
    if config is not None:
        written = _write_back(config, lines)
        # One whole-window point per subscriber (the count this key always gave), the rest
        # are the points per period.
        meta["written_back"] = len(summary)
        meta["written_back_per_period"] = written - len(summary)
    from probe.report.render import to_csv, to_html, to_json, to_table
    from probe.report.rollup import rollup

    meta.update(source=source.describe(), profile=args.profile, engine=args.engine,
                **{"from": None if start is None else start.isoformat(),
                   "to": None if end is None else end.isoformat()})
    report = rollup(summary, by, meta, per_subscriber=args.per_subscriber, periods=per_period)
    text = {"table": to_table, "json": to_json, "csv": to_csv, "html": to_html}[fmt](report)
    _write(args.output, text if text.endswith("\n") else text + "\n")
    _say(f"{report.overall.subscribers:,} subscribers, {report.overall.shortfall:,} with a "
         f"shortfall; done in {time.perf_counter() - began:.1f} s")
    return EXIT_OK


def _evaluate_local(source: Any, contracts: dict[str, Contract], profile: str | None,
                    start: datetime | None, end: datetime | None, *, write_back: bool,
                    periods: bool,
                    ) -> tuple[pd.DataFrame, pd.DataFrame | None, dict[str, Any], list[str]]:
    from probe.cli.report_sources import read_source
    from probe.compliance.fleet import evaluate_fleet
    from probe.report.summary import summarise, summarise_periods

    _say(f"reading {source.describe()}")
    frame = read_source(source, start, end)
    meta = _coverage(frame, contracts)
    _say(f"{len(frame):,} measurements read; evaluating {len(contracts):,} subscribers")
    evaluations = evaluate_fleet(frame, contracts, profile=profile)
    by_period: dict[str, list[Evaluation]] = {}
    if periods:
        from probe.compliance.periods import evaluate_periods

        _say("evaluating every subscriber's peak and off-peak tests apart")
        by_period = evaluate_periods(frame, contracts, profile=profile)
    lines: list[str] = []
    if write_back:
        from probe.sinks.fleetpoints import encode_window_verdict

        times = frame["started_at"]
        at = end or (times.max().to_pydatetime() if len(times) else None)
        if at is None:
            raise UsageError("--write-back: no measurements in the window, nothing to stamp "
                             "the verdicts with (give --to)")
        first = start or times.min().to_pydatetime()
        window_s = (at - first).total_seconds()
        lines = [encode_window_verdict(e, contracts[e.subscriber_id], at, window_s=window_s)
                 for e in evaluations]
        lines += [encode_window_verdict(e, contracts[e.subscriber_id], at, window_s=window_s,
                                        period=period)
                  for period, group in by_period.items() for e in group]
    return (summarise(evaluations, contracts),
            summarise_periods(by_period, contracts) if periods else None, meta, lines)


def _evaluate_dask(args: argparse.Namespace, directory: Path, contracts: dict[str, Contract],
                   start: datetime | None, end: datetime | None, *, periods: bool,
                   ) -> tuple[pd.DataFrame, pd.DataFrame | None, dict[str, Any], list[str]]:
    from probe.dataset.parquet import describe
    from probe.scaleout.dask_report import evaluate_on_dask

    info = describe(directory)
    where = args.scheduler or f"a local cluster of {args.workers} worker process(es)"
    _say(f"evaluating {len(info.files)} Parquet file(s) in {directory} on dask ({where})"
         + ("" if info.whole_subscribers else "; shuffling by subscriber first"))
    encode = None
    if args.write_back and end is not None:
        from functools import partial

        from probe.sinks.fleetpoints import encode_window_verdict

        window_s = None if start is None else (end - start).total_seconds()
        encode = partial(encode_window_verdict, at=end, window_s=window_s)
    result = evaluate_on_dask(info.files, contracts, whole_subscribers=info.whole_subscribers,
                              profile=args.profile, start=start, end=end,
                              workers=args.workers, scheduler=args.scheduler, progress=_say,
                              encode=encode, periods=periods)
    meta = {"measurements": result.measurements,
            "notes": _notes(result.unknown_rows, result.unknown_example)}
    return result.summary, result.periods, meta, result.lines


def _write_back(config: Any, lines: list[str]) -> int:
    """Send the window-verdict lines in batches; SinkError on the first failed batch."""
    from probe.errors import SinkError
    from probe.sinks.influx import InfluxWriter

    writer = InfluxWriter(config)
    try:
        for lo in range(0, len(lines), WRITE_BATCH):
            failure = writer.write(lines[lo:lo + WRITE_BATCH])
            if failure is not None:
                raise SinkError(f"write-back stopped after {lo:,} of {len(lines):,} window "
                                f"verdicts: {failure.message}")
    finally:
        writer.close()
    _say(f"{len(lines):,} window verdicts (whole window and per period) written to "
         f"{config.describe()}")
    return len(lines)


def _coverage(frame: pd.DataFrame, contracts: dict[str, Contract]) -> dict[str, Any]:
    ids = frame["subscriber_id"]
    known = ids.isin(list(contracts))
    unknown = int((~known).sum())
    example = str(ids[~known].iloc[0]) if unknown else ""
    return {"measurements": int(known.sum()), "notes": _notes(unknown, example)}


def _notes(unknown: int, example: str) -> list[str]:
    if not unknown:
        return []
    _say(f"warning: {unknown:,} measurement(s) of subscribers without a contract were "
         f"ignored (e.g. {example!r})")
    return [f"{unknown:,} measurement(s) of subscribers without a contract were ignored "
            f"(e.g. {example!r})"]


def _write(output: str | None, text: str) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write --output {output}: {exc.strerror or exc}") from None
    _say(f"written to {output}")
