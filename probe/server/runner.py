"""Running the application: in-process (``start_server``) and as a blocking worker.

``start_server`` is what ``probe demo`` and tests use: a real server on a real socket inside
the caller's event loop. ``run_worker`` is one ``probe serve`` process: it serves until SIGTERM
or SIGINT, then stops taking connections and gives running transfers ``shutdown_s`` to end.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from probe.errors import ProbeError
from probe.server.app import create_app
from probe.server.config import ServerConfig
from probe.server.handoff import HandoffRunner


@dataclass(frozen=True, slots=True)
class RunningServer:
    """A started in-process server; ``await close()`` stops it."""

    host: str
    port: int
    _runner: web.AppRunner

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def close(self) -> None:
        await self._runner.cleanup()


def _bind_error(config: ServerConfig, exc: OSError) -> ProbeError:
    reason = {
        errno.EADDRINUSE: "address already in use",
        errno.EACCES: "permission denied",
        errno.EADDRNOTAVAIL: "address not available on this host",
    }.get(exc.errno or 0, exc.strerror or str(exc))
    return ProbeError(f"cannot listen on {config.host}:{config.port}: {reason}")


async def start_server(config: ServerConfig, *, reuse_port: bool = False) -> RunningServer:
    """Start serving ``config`` in the running loop; port 0 picks a free port.

    Raises ``ProbeError`` (exit 1) when the address cannot be bound.
    """
    runner = HandoffRunner(
        create_app(config),
        access_log=logging.getLogger("aiohttp.access") if config.access_log else None,
        handle_signals=False,
        shutdown_timeout=config.shutdown_s,
    )
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port, reuse_port=reuse_port or None)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise _bind_error(config, exc) from None
    port = config.port
    for address in runner.addresses:
        if isinstance(address, tuple):
            port = int(address[1])
            break
    return RunningServer(config.host, port, runner)


def check_bindable(config: ServerConfig) -> int:
    """Bind (without SO_REUSEPORT) and release the port; return it (resolving port 0).

    Workers bind with SO_REUSEPORT, which would silently share a port with another server
    running as the same user; this plain bind refuses that case with a clear error first.
    """
    try:
        infos = socket.getaddrinfo(config.host, config.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ProbeError(f"cannot resolve host {config.host!r}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            raise _bind_error(config, exc) from None
        return int(sock.getsockname()[1])


def run_worker(
    config: ServerConfig, *, reuse_port: bool, on_ready: Callable[[RunningServer], None]
) -> None:
    """Serve until SIGTERM/SIGINT; call ``on_ready`` once listening. Blocks."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        server = await start_server(config, reuse_port=reuse_port)
        try:
            on_ready(server)
            await stop.wait()
        finally:
            await server.close()

    asyncio.run(main())
