"""The local result store as the commands see it: where it is (``--db``), opening it, keeping a
measurement after a test, and the output helpers ``probe history``/``status`` share.

``probe measure``/``probe check`` store by default through :func:`store_measurement` and
:func:`add_store_arguments`; the store itself is probe.store's.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from probe.errors import ConfigError

if TYPE_CHECKING:
    from probe.measurement import Measurement
    from probe.store import SqliteStore

PROBE_ID_ENV = "PROBE_ID"
DB_HELP = "result store file (default: $PROBE_STATE_DIR/probe.db, ~/.local/state/probe/probe.db, "
DB_HELP += "or /var/lib/probe/probe.db as root)"


def add_store_arguments(parser: argparse.ArgumentParser, *, db_help: str = DB_HELP) -> None:
    """``--db PATH`` and ``--no-store`` for commands that produce measurements.

    Either may already exist on the parser (``probe measure`` declared --no-store early);
    only the missing ones are added.
    """
    existing = parser._option_string_actions
    if "--db" not in existing:
        parser.add_argument("--db", metavar="PATH", help=db_help)
    if "--no-store" not in existing:
        parser.add_argument("--no-store", action="store_true",
                            help="do not keep this measurement in the local store")


def store_measurement(
    measurement: Measurement,
    *,
    db: str | None = None,
    probe_id: str | None = None,
    subscriber_id: str | None = None,
    contract_ref: str | None = None,
    verdict: str | None = None,
    fleet: Mapping[str, Any] | None = None,
) -> Path:
    """Commit one measurement to the store (creating it if needed); returns the file path."""
    path = resolve_db(db)
    with open_store(path) as store:
        store.save(measurement, probe_id=probe_id or default_probe_id(),
                   subscriber_id=subscriber_id, contract_ref=contract_ref, verdict=verdict,
                   fleet=fleet)
    return path


def default_probe_id() -> str:
    return os.environ.get(PROBE_ID_ENV) or socket.gethostname()


def resolve_db(db: str | None) -> Path:
    from probe.store import default_db_path

    return Path(db) if db else default_db_path()


def open_store(path: Path) -> SqliteStore:
    from probe.store import SqliteStore

    return SqliteStore.open(path)


def require_existing(path: Path) -> None:
    # Reading commands must not create an empty store where the user mistyped a path.
    if not path.exists():
        raise ConfigError(f"no result store at {path} (measure first, or pass --db PATH)")


def print_json(obj: dict[str, Any]) -> None:
    print(json.dumps(obj, separators=(",", ":")))
