"""``probe serve``: run the measurement server (reads the token file/environment, prints status)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from probe import wire
from probe.cli import argtypes
from probe.errors import EXIT_OK, ConfigError

TOKEN_ENV = "PROBE_SERVER_TOKEN"

DESCRIPTION = f"""\
Serve measurements: /download?bytes=N (random, incompressible), /upload (counts what arrives),
/ping, /healthz, and LibreSpeed's garbage.php/empty.php/getIP.php (also under /backend/).

Guard rails answer instead of crashing: 400 bad parameter, 401 missing/wrong token, 404 unknown
path, 413 over the byte cap, 503 + Retry-After when too many transfers run. Stops cleanly on
SIGTERM or Ctrl-C. A shared token comes from --token-file or ${TOKEN_ENV}; clients send
"Authorization: Bearer TOKEN" or ?token=TOKEN (/healthz never needs it).
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "serve", help="run the measurement server", description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: %(default)s; 0.0.0.0 for all)")
    parser.add_argument("--port", type=argtypes.port, default=wire.DEFAULT_PORT,
                        help="TCP port (default: %(default)s; 0 picks a free one)")
    parser.add_argument("--workers", type=argtypes.positive_int, default=1, metavar="N",
                        help="N processes sharing the port via SO_REUSEPORT; one per core "
                             "serves fast lines (default: %(default)s)")
    parser.add_argument("--token-file", type=Path, metavar="FILE",
                        help=f"require the token in FILE (overrides ${TOKEN_ENV})")
    parser.add_argument("--max-transfer-bytes", type=argtypes.positive_int,
                        default=wire.DEFAULT_MAX_TRANSFER_BYTES, metavar="BYTES",
                        help="cap per download/upload request (default: %(default)s)")
    parser.add_argument("--max-transfer-s", type=argtypes.positive_seconds,
                        default=wire.DEFAULT_MAX_TRANSFER_S, metavar="S",
                        help="cap on one transfer's duration (default: %(default)s)")
    parser.add_argument("--max-concurrent", type=argtypes.positive_int,
                        default=wire.DEFAULT_MAX_CONCURRENT_TRANSFERS, metavar="N",
                        help="transfers at once, per worker (default: %(default)s)")
    parser.add_argument("--max-per-client", type=argtypes.positive_int,
                        default=wire.DEFAULT_MAX_TRANSFERS_PER_CLIENT, metavar="N",
                        help="transfers at once from one client address, per worker "
                             "(default: %(default)s)")
    parser.add_argument("--sendfile", action="store_true",
                        help="send downloads with sendfile(2); costs more CPU than the default "
                             "write() on loopback/veth (see docs/server.md)")
    parser.add_argument("--access-log", action="store_true",
                        help="log every request to stderr (off by default)")
    parser.set_defaults(handler=run)


def read_token(token_file: Path | None) -> str | None:
    """The shared token from FILE, else from the environment, else None (no auth)."""
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read token file {token_file}: {exc}") from None
        if not token:
            raise ConfigError(f"token file {token_file} is empty")
        return token
    token = os.environ.get(TOKEN_ENV, "").strip()
    return token or None


def run(args: argparse.Namespace) -> int:
    import logging

    from probe.server import ServerConfig, serve

    config = ServerConfig(
        host=args.host, port=args.port, token=read_token(args.token_file),
        max_transfer_bytes=args.max_transfer_bytes, max_transfer_s=args.max_transfer_s,
        max_concurrent=args.max_concurrent, max_per_client=args.max_per_client,
        access_log=args.access_log, use_sendfile=args.sendfile,
    )
    level = logging.INFO if args.access_log else logging.WARNING
    logging.basicConfig(level=level, stream=sys.stderr, format="%(message)s")
    workers = args.workers

    def ready(url: str) -> None:
        # The exact form other tools wait for: "probe: serving on URL (" then the workers.
        noun = "worker" if workers == 1 else "workers"
        print(f"probe: serving on {url} ({workers} {noun})", file=sys.stderr, flush=True)

    serve(config, workers, ready)
    print("probe: server stopped", file=sys.stderr, flush=True)
    return EXIT_OK
