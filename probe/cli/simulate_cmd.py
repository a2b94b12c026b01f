"""``probe simulate``: a seeded fleet of probes × days of measurements, with its contracts."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from probe.cli import argtypes
from probe.errors import EXIT_OK, UsageError

if TYPE_CHECKING:
    from probe.simulate.fleet import Fleet

FORMATS = ("parquet", "jsonl", "lineprotocol")

DESCRIPTION = """\
Draw N subscribers (one probe each) x D days of realistic measurements and write them with
the contracts to match, for dashboards, `probe report` and benchmarks. The same --seed gives
the same fleet, byte for byte.

Realism: per-day tests at fixed local hours (evening first) up to 40 min late; an evening dip
whose depth depends on the region; plans that under-deliver and 12 % bad lines; 5 % of probes
on Wi-Fi (rates capped, flagged "wifi"), 1 % of tests flagged "cross_traffic"; 15 % of probes
offline for 1-3 days, 3 % of tests missed; 4 % of contracts starting on day 3.

Writes into --out DIR:
  contracts/<plan>.toml     one file per plan with its [[contract]] tables
  measurements/             Parquet part files holding whole subscribers (--format parquet)
  measurements.jsonl        records as `probe export` writes them (--format jsonl)
  points.lp                 InfluxDB line protocol from the sink encoder (--format lineprotocol)
  fleet.json                what was drawn: seed, counts by plan, region and flag
--db PATH also saves every measurement into a probe result store (small fleets).
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "simulate", help="generate a realistic fleet of measurements and contracts",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--subscribers", type=argtypes.positive_int, default=1000, metavar="N",
                        help="probes/subscribers to draw (default 1000)")
    parser.add_argument("--days", type=argtypes.positive_int, default=14, metavar="D",
                        help="local days of measurements (default 14)")
    parser.add_argument("--per-day", type=argtypes.positive_int, default=10, metavar="K",
                        help="scheduled tests per local day, 1-24 (default 10)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--start", type=_date, default=date(2026, 3, 2), metavar="YYYY-MM-DD",
                        help="first local day (default 2026-03-02)")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR",
                        help="directory to write into (created if needed)")
    parser.add_argument("--format", default="parquet", metavar="LIST",
                        help=f"comma-separated outputs: {', '.join(FORMATS)} (default parquet)")
    parser.add_argument("--rows-per-file", type=argtypes.positive_int, default=1_000_000,
                        metavar="N", help="Parquet rows per part file (default 1000000)")
    parser.add_argument("--db", metavar="PATH", help="also save into this result store")
    parser.add_argument("--json", action="store_true",
                        help="print the summary (fleet.json) on stdout")
    parser.set_defaults(handler=run)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date like 2026-03-02: {text!r}") from None


def _formats(text: str) -> list[str]:
    chosen = [f.strip() for f in text.split(",") if f.strip()]
    unknown = [f for f in chosen if f not in FORMATS]
    if unknown or not chosen:
        raise UsageError(f"--format takes {', '.join(FORMATS)} (comma-separated), "
                         f"not {text!r}")
    return chosen


def _say(text: str) -> None:
    print(f"probe simulate: {text}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from probe.simulate.fleet import FleetSpec, simulate_fleet

    formats = _formats(args.format)
    if args.per_day > 24:
        raise UsageError(f"--per-day must be 1..24, got {args.per_day}")
    spec = FleetSpec(args.subscribers, args.days, args.per_day, args.seed, args.start)
    _say(f"drawing {spec.subscribers:,} subscribers x {spec.days} days "
         f"x {spec.per_day} tests/day (seed {spec.seed})")
    fleet = simulate_fleet(spec)
    out: Path = args.out
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create --out {out}: {exc.strerror or exc}") from None
    _write_contracts(fleet, out / "contracts")
    if "parquet" in formats:
        from probe.dataset.parquet import write_measurements

        write_measurements(out / "measurements", fleet.frame, fleet.ids,
                           rows_per_file=args.rows_per_file,
                           progress=lambda done, total: _say(
                               f"Parquet: {done:,} of {total:,} rows written"))
    if "jsonl" in formats:
        _write_jsonl(fleet, out / "measurements.jsonl")
    if "lineprotocol" in formats:
        _write_lines(fleet, out / "points.lp")
    if args.db:
        _save_to_store(fleet, args.db)
    summary = _summary(fleet, formats)
    (out / "fleet.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n",
                                    encoding="utf-8")
    if args.json:
        print(json.dumps(summary, ensure_ascii=False))
    _say(f"{summary['measurements']:,} measurements of {summary['subscribers']:,} subscribers "
         f"written to {out}")
    return EXIT_OK


def _write_contracts(fleet: Fleet, directory: Path) -> None:
    from probe.simulate.contracts_toml import files_by_plan

    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.toml"):
        old.unlink()
    comment = (f"Generated by `probe simulate --seed {fleet.spec.seed} --subscribers "
               f"{fleet.spec.subscribers} --days {fleet.spec.days}`: simulated subscribers.")
    for name, text in files_by_plan(fleet.contracts, comment=comment).items():
        (directory / name).write_text(text, encoding="utf-8")
    _say(f"contracts of {len(fleet.contracts):,} subscribers written to {directory}")


def _write_jsonl(fleet: Fleet, path: Path) -> None:
    from probe.simulate.records import iter_records

    with path.open("w", encoding="utf-8") as out:
        for rec in iter_records(fleet):
            item = rec.measurement.to_json_dict()
            del item["samples"]
            item.update(probe_id=rec.probe_id, subscriber_id=rec.subscriber_id,
                        contract_ref=rec.contract_ref)
            out.write(json.dumps(item, separators=(",", ":")) + "\n")
    _say(f"JSON lines written to {path}")


def _write_lines(fleet: Fleet, path: Path) -> None:
    from probe.compliance.check import check_measurement
    from probe.compliance.labels import fleet_labels
    from probe.simulate.records import iter_records
    from probe.sinks.lineprotocol import LabelledRecord, encode_point

    with path.open("w", encoding="utf-8") as out:
        for rec in iter_records(fleet):
            # As the agent writes them (docs/data-model.md): the per-test verdict (so the
            # point carries `compliant`), the fleet tags (plan, region, technology, period)
            # and the contracted rates.
            contract = fleet.contracts[rec.subscriber_id]
            labels = fleet_labels(contract, rec.measurement.started_at).to_json_dict()
            point = LabelledRecord.of(rec.measurement, rec.probe_id, fleet=labels,
                                      subscriber_id=rec.subscriber_id,
                                      contract_ref=rec.contract_ref,
                                      verdict=check_measurement(contract, rec.measurement).verdict)
            out.write(encode_point(point) + "\n")
    _say(f"line protocol written to {path}")


def _save_to_store(fleet: Fleet, db: str) -> None:
    from probe.cli.store_cmd import open_store, resolve_db
    from probe.simulate.records import iter_records

    path = resolve_db(db)
    with open_store(path) as store:
        for n, rec in enumerate(iter_records(fleet), start=1):
            store.save(rec.measurement, probe_id=rec.probe_id,
                       subscriber_id=rec.subscriber_id, contract_ref=rec.contract_ref)
            if n % 10_000 == 0:
                _say(f"store: {n:,} of {len(fleet.frame):,} saved")
    _say(f"measurements saved to the store {path}")


def _summary(fleet: Fleet, formats: list[str]) -> dict[str, object]:
    frame = fleet.frame

    def counts(column: str) -> dict[str, int]:
        return {str(k): int(v) for k, v in frame[column].value_counts(sort=False).items()}

    return {
        "seed": fleet.spec.seed, "start": fleet.spec.start.isoformat(),
        "days": fleet.spec.days, "per_day": fleet.spec.per_day,
        "subscribers": len(fleet.contracts), "measurements": len(frame),
        "first": frame["started_at"].min().isoformat() if len(frame) else None,
        "last": frame["started_at"].max().isoformat() if len(frame) else None,
        "by_plan": counts("plan"), "by_region": counts("region"), "by_flags": counts("flags"),
        "formats": formats,
    }
