"""``probe agent``: the unattended daemon (schedule, campaign, store, forward) from a config file.

This module reads the config file and reports its problems as ``file:line: key: message`` (like
contract files); everything else is probe.agent's.
"""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING

from probe.cli import argtypes
from probe.errors import EXIT_OK, ConfigError, ContractError

if TYPE_CHECKING:
    from probe.agent.config import AgentConfig
    from probe.compliance.contract import Contract

DESCRIPTION = """\
Run the measurement agent: test the line on a schedule (denser in the contract's peak hours,
never on the full minute), run the campaign the contract's rule profile needs (de-bnetza: 10
tests on each of 3 days; us-fcc: enough tests in the testing hours), check each test against
the contract, keep every record in the local store and forward it to the sink in-process.

The config file is TOML; deploy/agent.example.toml documents every key. Relative paths in it are
relative to the file. Logs are JSON lines on stdout. SIGTERM/Ctrl-C stop it; a test in flight
is abandoned, never half-stored.

--runs N starts the first test at once (the rest follow the schedule) and exits after N
completed tests once the outbox is empty (scripts, tests).
--check validates the config and contract, prints the plan, and exits.
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "agent", help="run the unattended measurement agent from a config file",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", required=True, type=Path, metavar="FILE",
                        help="agent config (TOML), e.g. deploy/agent.example.toml")
    parser.add_argument("--runs", type=argtypes.positive_int, metavar="N",
                        help="run the first test at once; exit after N completed tests, once "
                        "everything is forwarded")
    parser.add_argument("--check", action="store_true",
                        help="validate the config and contract, print what would run, exit")
    parser.set_defaults(handler=handle)


def load_config(path: Path) -> AgentConfig:
    """The validated config; ConfigError naming file, line and key of the first problem."""
    from probe.agent.config import parse_config
    from probe.cli.contract_files import key_lines

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") \
            from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    parsed = parse_config(doc)
    if not isinstance(parsed, list):
        from probe.backends import NAMES
        from probe.compliance.params import Problem

        # The engine names live above the agent's policy (probe.backends), so checked here.
        if parsed.measure.backend in NAMES:
            return parsed
        parsed = [Problem("measure.backend", f"must be one of {', '.join(NAMES)}, got "
                          f"{parsed.measure.backend!r}")]
    lines = key_lines(text)
    shown = []
    for problem in parsed:
        parts = problem.key.split(".")
        line = None
        while parts and line is None:
            line = lines.get(".".join(parts))
            parts.pop()
        shown.append(f"{path}:{line}: {problem}" if line else f"{path}: {problem}")
    more = f" (and {len(shown) - 1} more: {'; '.join(shown[1:4])})" if len(shown) > 1 else ""
    raise ConfigError(shown[0] + more)


def load_contract(config: AgentConfig, config_dir: Path) -> Contract:
    from probe.agent.wiring import resolve_path
    from probe.cli.contract_files import load_contracts
    from probe.compliance.check import resolve_profile

    path = resolve_path(config.contract_file, config_dir)
    contracts = load_contracts(path).contracts
    if config.subscriber is not None:
        if config.subscriber not in contracts:
            raise ContractError(f"{path}: no contract for subscriber {config.subscriber!r} "
                                f"(contract.subscriber in the agent config; has: "
                                f"{', '.join(contracts) or 'none'})")
        contract = contracts[config.subscriber]
    elif len(contracts) == 1:
        contract = next(iter(contracts.values()))
    else:
        raise ContractError(f"{path}: has {len(contracts)} contracts; set contract.subscriber "
                            "in the agent config" if contracts else
                            f"{path}: has no [contract]: the agent needs the subscriber's")
    resolve_profile(contract)  # a plan unfit for its profile fails before the agent starts
    return contract


def handle(args: argparse.Namespace) -> int:
    import asyncio

    from probe.agent import logjson
    from probe.agent.wiring import build_agent

    config = load_config(args.config)
    config_dir = args.config.resolve().parent
    contract = load_contract(config, config_dir)
    if args.check:
        print(describe(config, contract))
        return EXIT_OK
    logjson.configure(config.log_format)
    agent = build_agent(config, contract, config_dir=config_dir)
    return asyncio.run(agent.run(runs=args.runs))


def describe(config: AgentConfig, contract: Contract) -> str:
    """What ``--check`` prints: the plan the agent would follow."""
    from probe.agent.wiring import campaign_for, peak_hours, profile_of

    name, _ = profile_of(contract)
    campaign = campaign_for(config, contract, contract.zone)
    s = config.schedule
    start, end = peak_hours(config, contract)
    lines = [
        f"subscriber  {contract.subscriber_id} (plan {contract.plan.id}, profile {name}, "
        f"time zone {contract.time_zone})",
        "servers     " + ", ".join(f"{x.name} [{x.role}] {x.url}" for x in config.servers),
        f"schedule    every {s.interval_s / 60:g} min, every {s.peak_interval_s / 60:g} min in "
        f"{start:g}-{end:g} h local, jitter ±{s.jitter:.0%}"
        + ("" if s.daily_budget_bytes is None else
           f", budget {s.daily_budget_bytes / 1e6:g} MB/day"),
        f"campaign    {campaign.name if campaign else 'none'}",
        f"sink        {config.sink.kind + ' at ' + config.sink.url if config.sink else 'none'}",
        f"metrics     {config.metrics_listen or 'off'}",
    ]
    return "\n".join(lines)
