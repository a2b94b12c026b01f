"""``probe measure``: measure one server now and print the record (human or ``--json``).

Also owns the human rendering shared with ``probe demo``: the live progress display (rich, on
stderr, only when stderr is a terminal and ``--json`` is off) and the short summary.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from probe.cli import argtypes
from probe.cli.store_cmd import add_store_arguments, store_measurement
from probe.engine.plan import DEFAULT_DURATION_S, DEFAULT_STREAMS
from probe.errors import EXIT_OK, ConfigError

if TYPE_CHECKING:
    from probe.engine.plan import Progress
    from probe.measurement import DirectionResult, Measurement

DESCRIPTION = """\
Measure download and upload goodput (Mbit/s = 10^6 bit/s of HTTP payload), idle latency,
jitter and loaded latency against a probe measurement server (`probe serve`).

Each direction runs --streams parallel TCP streams for --duration seconds; TCP slow start is
discarded by the steady-state rule in docs/measurement.md and the rate is computed over the
rest. --duration auto stops each direction once its rate is known to ±1 % (95 % confidence,
no drift), after 3 s at the soonest and 15 s at the latest, and says why it stopped and how
many bytes it used; it saves most of a fixed test's bytes on a clean line. Upload is counted
as the server received it. --json prints exactly one JSON object with the raw samples;
directions not measured are null.

--backend chooses the engine (docs/engines.md): native (a `probe serve` server, the default),
librespeed (any LibreSpeed server; several --server to pick the nearest), iperf3 (an iperf3
server, HOST[:PORT]), speedtest (speedtest.net via speedtest-cli; no --server = nearest
server), ndt7 (M-Lab or an ndt7 server; needs --consent-mlab for M-Lab's public servers).
Every engine reports the probe's own statistic over its raw samples; the record's "method"
says how the engine measured and what its own statistic said.

Exit codes: 0 measured; 2 bad arguments; 3 server unreachable, refused or timed out;
1 the server answered something unusable.
"""


MEASURE_JSON_HELP = "print exactly one JSON object (the measurement record) on stdout"


def add_measure_options(parser: argparse.ArgumentParser, *, default_duration_s: float,
                        json_help: str = MEASURE_JSON_HELP) -> None:
    """Options shared by ``measure``, ``check`` and ``demo`` (each says what --json prints)."""
    parser.add_argument("--duration", type=argtypes.duration_or_auto, default=default_duration_s,
                        metavar="S|auto[:MAX]",
                        help=f"seconds per direction (default {default_duration_s:g}), or auto: "
                             "stop each direction once its rate is known to ±1 %% (after 3 s, "
                             "at most MAX, default 15 s; native engine; others run 10 s)")
    parser.add_argument("--streams", type=argtypes.streams, default=DEFAULT_STREAMS, metavar="N",
                        help=f"parallel TCP streams per direction (default {DEFAULT_STREAMS}; "
                             "a download on a line that holds too few packets in flight for "
                             "them keeps fewer after ~1.2 s, and the record says so)")
    parser.add_argument("--direction", choices=("down", "up", "both"), default="both",
                        help="which directions to measure (default both)")
    parser.add_argument("--json", action="store_true", help=json_help)


def add_backend_options(parser: argparse.ArgumentParser, *, choose: bool = True) -> None:
    """Engine options shared by ``measure`` and ``crosscheck``."""
    from probe.backends import NAMES

    if choose:
        parser.add_argument("--backend", choices=NAMES, default="native",
                            help="measurement engine (default native)")
    parser.add_argument("--secure", action="store_true",
                        help="speedtest: talk HTTPS to speedtest.net (needed since ~2022)")
    parser.add_argument("--consent-mlab", action="store_true",
                        help="ndt7: I agree that M-Lab publishes this test's result together "
                             "with my IP address (required for M-Lab's servers)")
    parser.add_argument("--locate-url", metavar="URL",
                        help="ndt7: M-Lab Locate API to discover a server (default M-Lab's)")


def engine_options(args: argparse.Namespace, servers: list[str] | None) -> Any:
    from probe.engine.interface import EngineOptions

    return EngineOptions(
        servers=tuple(servers or ()), token=read_token(getattr(args, "token_file", None)),
        secure=getattr(args, "secure", False), consent=getattr(args, "consent_mlab", False),
        locate_url=getattr(args, "locate_url", None),
    )


def _servers(args: argparse.Namespace) -> list[str]:
    value = args.server
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "measure", help="measure a line against a probe server",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--server", action="append", metavar="URL",
                        help="the measurement server, e.g. http://198.18.0.1:8080 (repeat for "
                             "librespeed to choose the nearest)")
    add_measure_options(parser, default_duration_s=DEFAULT_DURATION_S)
    parser.add_argument("--token-file", type=Path, metavar="F",
                        help="file holding the server's shared token (sent as a Bearer token)")
    add_backend_options(parser)
    add_store_arguments(parser)
    parser.set_defaults(handler=handle)


def read_token(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"cannot read token file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"token file {path} is not UTF-8 text") from None
    if not token or any(c.isspace() for c in token):
        raise ConfigError(f"token file {path} must hold one token on one line")
    return token


def build_plan(args: argparse.Namespace) -> Any:
    from probe.engine.autostop import AutoDuration
    from probe.engine.plan import MeasurePlan, directions_from_choice

    directions = directions_from_choice(args.direction)
    if isinstance(args.duration, AutoDuration):
        return MeasurePlan(auto_duration=args.duration, streams=args.streams,
                           directions=directions)
    return MeasurePlan(duration_s=args.duration, streams=args.streams, directions=directions)


def measure_now(args: argparse.Namespace) -> Measurement:
    """Measure ``--server`` with the plan, token and backend the options give (``measure``,
    ``check``)."""
    from probe.backends import create

    plan = build_plan(args)
    engine = create(getattr(args, "backend", "native"), engine_options(args, _servers(args)))
    return run_with_display(
        lambda on_progress: engine.measure(plan, on_progress=on_progress),
        show_progress=not args.json,
    )


def handle(args: argparse.Namespace) -> int:
    keep_then_emit(measure_now(args), args)
    return EXIT_OK


def keep_then_emit(record: Measurement, args: argparse.Namespace, *,
                   json_body: dict[str, Any] | None = None, text_extra: str | None = None,
                   fleet: Mapping[str, Any] | None = None, stored_note: str | None = None,
                   report_path: bool = True, **labels: str | None) -> None:
    """Commit the record to the local store first, then print it.

    With ``--json`` this prints ``json_body`` plus ``stored_in`` when given (``probe check``,
    ``probe demo``), else exactly the record; ``text_extra`` follows the human summary. If
    the store cannot be written the result is still printed (the user paid for the
    measurement) and the store error is raised afterwards, so the exit code says it was not
    kept.
    """
    from probe.errors import StoreError

    stored_in: Path | None = None
    failure: StoreError | None = None
    if not args.no_store:
        try:
            stored_in = store_measurement(record, db=args.db, fleet=fleet, **labels)
        except StoreError as exc:
            failure = exc
    if args.json:
        body = record.to_json_dict()
        if json_body is not None:
            shown = stored_in if report_path else None
            body = json_body | {"stored_in": None if shown is None else str(shown)}
        print(json.dumps(body, ensure_ascii=False, separators=(",", ":")))
    else:
        print(render_summary(record))
        if text_extra:
            print(text_extra)
        if stored_in is not None:
            print(f"stored    {stored_note or stored_in}")
    if failure is not None:
        raise StoreError(f"measured but NOT stored: {failure}")


def run_with_display(
    start: Callable[[Callable[[Progress], None] | None], Coroutine[Any, Any, Measurement]],
    *, show_progress: bool,
) -> Measurement:
    """Run the measurement coroutine, drawing live progress on a terminal's stderr."""
    import asyncio

    if not (show_progress and sys.stderr.isatty()):
        return asyncio.run(start(None))
    from rich.console import Console
    from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as RichProgress

    display = RichProgress(TextColumn("{task.description:<10}"), BarColumn(),
                       TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
                       console=Console(stderr=True), transient=True)
    tasks: dict[str, Any] = {}

    def on_progress(p: Progress) -> None:
        if p.phase == "done":
            return
        if p.phase not in tasks:
            tasks[p.phase] = display.add_task(p.phase, total=p.duration_s or 1.0, rate="")
        rate = "" if p.current_mbps is None else f"{p.current_mbps:9.2f} Mbit/s"
        done = p.elapsed_s if p.duration_s else 1.0
        display.update(tasks[p.phase], completed=done, rate=rate)

    with display:
        return asyncio.run(start(on_progress))


def _rate(value: float | None) -> str:
    return "not measured" if value is None else f"{value:10.2f} Mbit/s"


def _stopped(result: DirectionResult) -> str:
    """Why an adaptive-length direction stopped, for the human summary."""
    precision = ("" if result.rate_precision is None
                 else f", rate known to ±{result.rate_precision * 100:.2f} %")
    why = {"steady": "rate known to ±1 %", "ceiling": "not known to ±1 % by the ceiling"}
    return (f"stopped at {result.stopped_at_s:.1f} s: "
            f"{why.get(result.stop_reason or '', result.stop_reason or 'unknown')}{precision}")


def _cpu(result: DirectionResult) -> str:
    """What the client's CPU did in a direction, for a ``client_cpu_limited`` record."""
    elapsed = result.elapsed_s or 0.0
    used = "" if result.client_cpu_s is None or elapsed <= 0 else \
        f"client used {result.client_cpu_s / elapsed:.2f} CPU"
    allowed = "" if result.cpu_allowance is None else f" of {result.cpu_allowance:.2f} allowed"
    throttled = ""
    if result.cpu_periods and result.cpu_throttled_periods is not None:
        throttled = (f", throttled in {result.cpu_throttled_periods} of {result.cpu_periods} "
                     f"quota periods ({result.cpu_throttled_s or 0.0:.1f} s)")
    return f"{used}{allowed}{throttled}".lstrip(", ")


def render_summary(m: Measurement) -> str:
    """A short human summary of one record."""
    length = (f"auto, at most {m.duration_s:g} s" if m.duration_auto
              else f"{m.duration_s:g} s") + " per direction"
    lines = [f"server    {m.server}   ({m.streams} streams, {length})"]
    if m.backend != "native" and m.method is not None:
        lines.append(f"backend   {m.backend}: {m.method.streams_down} down / "
                     f"{m.method.streams_up} up streams; {m.method.quantity}")
    for label, result in (("download", m.download), ("upload", m.upload)):
        if result is None:
            lines.append(f"{label:<9} not measured")
            continue
        loaded = ("" if result.loaded_latency_ms is None
                  else f", loaded latency {result.loaded_latency_ms:.1f} ms")
        lines.append(
            f"{label:<9} {_rate(result.goodput_mbps)}   "
            f"({result.transferred_bytes / 1e6:,.1f} MB, window {result.window_start_s:.1f}-"
            f"{result.window_end_s:.1f} s, counted at {result.counted_at}{loaded})"
        )
        if m.duration_auto and result.stopped_at_s is not None:
            lines.append(f"{'':<9} {_stopped(result)}")
        if "client_cpu_limited" in m.flags and (cpu := _cpu(result)):
            lines.append(f"{'':<9} {cpu}")
        if result.partial_streams:
            lines.append(f"{'':<9} {len(result.partial_streams)} stream(s) counted from the "
                         "server's state so far: their answers came late")
        if result.streams_retired and result.retired_at_s is not None:
            lines.append(f"{'':<9} {m.streams - result.streams_retired} of {m.streams} streams "
                         f"kept from {result.retired_at_s:.1f} s: the line holds too few "
                         "packets for more")
    if m.latency is not None:
        lines.append(f"latency   {m.latency.median_ms:10.2f} ms       (min "
                     f"{m.latency.min_ms:.2f} ms, jitter {m.latency.jitter_ms:.2f} ms, "
                     f"{len(m.latency.rtts_ms)} round trips)")
    if m.flags:
        lines.append(f"flags     {', '.join(m.flags)}")
    lines.append(f"id        {m.id}   {m.started_at.isoformat(timespec='seconds')}")
    return "\n".join(lines)
