"""``create_app(config)``: the measurement server as an ``aiohttp.web.Application``.

The application owns its random payload (made in ``cleanup_ctx``, so each worker process makes
its own after fork) and its transfer counters; routes come from ``handlers`` and ``librespeed``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp.typedefs import Middleware

from probe.server import handlers, librespeed, state
from probe.server.config import ServerConfig
from probe.server.guards import TransferSlots, json_errors, token_middleware
from probe.server.payload import RandomPayload


async def _payload_ctx(app: web.Application) -> AsyncIterator[None]:
    payload = RandomPayload(app[state.CONFIG].payload_bytes)
    app[state.PAYLOAD] = payload
    yield
    payload.close()


def create_app(config: ServerConfig) -> web.Application:
    """Build the server application; nothing is bound or generated until it starts."""
    middlewares: list[Middleware] = [json_errors]
    if config.token is not None:
        middlewares.append(token_middleware(config.token))
    app = web.Application(
        middlewares=middlewares,
        handler_args={
            "read_bufsize": config.read_bufsize_bytes,
            # Count upload bytes as they crossed the wire; never inflate a gzip body.
            "auto_decompress": False,
            # A refused or abandoned body is not drained for 10 s; the connection closes.
            "lingering_time": 0.0,
        },
    )
    app[state.CONFIG] = config
    app[state.SLOTS] = TransferSlots(config.max_concurrent, config.max_per_client)
    app.cleanup_ctx.append(_payload_ctx)
    handlers.add_routes(app)
    librespeed.add_routes(app)
    return app
