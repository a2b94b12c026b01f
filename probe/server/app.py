"""``create_app(config)``: the measurement server as an ``aiohttp.web.Application``.

The application owns its random payload (made in ``cleanup_ctx``, so each worker process makes
its own after fork) and its transfer counters; routes come from ``handlers`` and ``librespeed``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Middleware

from probe.server import handlers, librespeed, ndt7, speedtest, state
from probe.server.config import ServerConfig
from probe.server.guards import TransferSlots, json_errors, token_middleware
from probe.server.handoff import release_held
from probe.server.payload import RandomPayload
from probe.server.uploadstatus import UploadRegistry


class _ClientFaultFilter(logging.Filter):
    """Demote aiohttp's tracebacks for requests malformed on the client's side to one DEBUG line.

    aiohttp logs a bad chunk size or header as "Error handling request" at ERROR with a
    traceback; on an exposed measurement server anyone can produce those at will. They are
    answered with a 400 either way; real bugs in our handlers still log at ERROR.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, HttpProcessingError):
            return True
        record.msg = f"{record.getMessage()}: {exc.message}"
        record.args = None
        record.exc_info = record.exc_text = None
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return SERVER_LOG.isEnabledFor(logging.DEBUG)


SERVER_LOG = logging.getLogger("probe.server.http")
SERVER_LOG.addFilter(_ClientFaultFilter())


async def _release_unclaimed(request: web.Request, response: web.StreamResponse) -> None:
    """An upload refused before its body was claimed (401, 503): aiohttp gets the held bytes."""
    release_held(request)


async def _payload_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[state.CONFIG]
    payload = RandomPayload(config.payload_bytes, with_file=config.use_sendfile)
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
            "logger": SERVER_LOG,
            "keepalive_timeout": config.idle_s,
        },
    )
    app[state.CONFIG] = config
    app[state.SLOTS] = TransferSlots(config.max_concurrent, config.max_per_client)
    app[state.UPLOADS] = UploadRegistry()
    app.cleanup_ctx.append(_payload_ctx)
    app.on_response_prepare.append(_release_unclaimed)
    handlers.add_routes(app)
    librespeed.add_routes(app)
    speedtest.add_routes(app)
    ndt7.add_routes(app)
    return app
