"""``probe status``: the local store's state, outbox backlog, last delivery and error, and the
agent's state row beside them. Also registers ``probe forward`` (:mod:`probe.cli.forward_cmd`).

The helpers other commands import from here live in :mod:`probe.cli.localstore` (store path,
open, keep a measurement) and :mod:`probe.cli.forward_cmd` (sink flags); they are re-exported.
"""

from __future__ import annotations

import argparse
from typing import Any

from probe.cli import forward_cmd
from probe.cli.forward_cmd import SINK_HELP, add_sink_arguments, forward_handler, sink_config
from probe.cli.localstore import (
    DB_HELP,
    PROBE_ID_ENV,
    add_store_arguments,
    default_probe_id,
    open_store,
    print_json,
    require_existing,
    resolve_db,
    store_measurement,
)
from probe.errors import EXIT_OK

__all__ = [
    "DB_HELP",
    "PROBE_ID_ENV",
    "SINK_HELP",
    "add_sink_arguments",
    "add_store_arguments",
    "default_probe_id",
    "forward_handler",
    "open_store",
    "print_json",
    "register",
    "require_existing",
    "resolve_db",
    "sink_config",
    "status_handler",
    "store_measurement",
]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    forward_cmd.register(subparsers)
    status = subparsers.add_parser(
        "status", help="show the store: size, backlog, last delivery, last error",
        description="Show the local store: measurements kept, outbox backlog, quarantined "
        "entries, last delivery and last sink error.",
    )
    status.add_argument("--check", action="store_true",
                        help="also run SQLite's integrity check (reads the whole file)")
    status.add_argument("--json", action="store_true", help="print one JSON object")
    status.add_argument("--db", metavar="PATH", help=DB_HELP)
    status.set_defaults(handler=status_handler)


def status_handler(args: argparse.Namespace) -> int:
    path = resolve_db(args.db)
    require_existing(path)
    with open_store(path) as store:
        status = store.status()
        problems = store.integrity_check() if args.check else None
        quarantined = store.quarantined()
        agent = store.get_state("agent")
    data: dict[str, Any] = status.to_json_dict()
    data["integrity"] = None if problems is None else ("ok" if problems == ["ok"] else problems)
    data["quarantined_entries"] = [
        {"measurement_id": mid, "error": err} for _, mid, err in quarantined[:20]
    ]
    data["agent"] = agent
    if args.json:
        print_json(data)
    else:
        for key, value in data.items():
            if key not in ("quarantined_entries", "agent"):
                print(f"{key:<20} {'-' if value is None else value}")
        for entry in data["quarantined_entries"]:
            print(f"quarantined          {entry['measurement_id']}: {entry['error']}")
        if agent is not None:
            print(_agent_text(agent))
    if problems is not None and problems != ["ok"]:
        from probe.errors import StoreError

        raise StoreError(f"the result store {path} failed its integrity check: {problems[0]}")
    return EXIT_OK


def _agent_text(agent: dict[str, Any]) -> str:
    """The agent's part of `probe status` (its state row, written by probe.agent)."""
    lines = [
        f"agent tests          {agent.get('tests_run', 0)} run, {agent.get('tests_deferred', 0)}"
        f" deferred, {agent.get('tests_skipped', 0)} skipped, {agent.get('tests_failed', 0)}"
        f" failed (last skip: {agent.get('last_skip_reason') or '-'})",
        f"agent last test      {agent.get('last_test_at') or '-'}",
        f"agent next test      {agent.get('next_test_at') or '-'} "
        f"({agent.get('next_test_kind') or '-'})",
    ]
    campaign = agent.get("campaign")
    if isinstance(campaign, dict):
        state = "complete" if campaign.get("complete") else "running"
        lines.append(f"campaign             {campaign.get('profile')} {state}: "
                     f"{campaign.get('done')} of {campaign.get('needed')} measurements; "
                     f"{campaign.get('detail')}")
    return "\n".join(lines)
