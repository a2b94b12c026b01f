"""Guard rails in front of the handlers: JSON error bodies, the shared token, transfer slots.

Every refusal is an ``aiohttp`` HTTP exception whose body is ``{"error": "<one line>"}`` (the
error shape of :mod:`probe.wire`), so a client can print the server's reason verbatim.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware

from probe import wire

_E = TypeVar("_E", bound=web.HTTPException)

JSON_TYPE = "application/json"


def json_error(
    exc_class: type[_E], message: str, *, close: bool = False,
    fields: dict[str, Any] | None = None, **kwargs: Any
) -> _E:
    """An HTTP exception of ``exc_class`` with the wire protocol's JSON error body.

    ``close`` drops the connection after the answer: needed whenever the request body was
    not read to its end, or aiohttp would keep draining an oversized body. ``fields`` are
    added to the body beside ``error`` (e.g. a 413's ``max_bytes``).
    """
    body = {"error": message, **(fields or {})}
    exc = exc_class(text=json.dumps(body), content_type=JSON_TYPE, **kwargs)
    if close:
        exc.force_close()
    return exc


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give aiohttp's own refusals (404 unknown path, 405 wrong method) a JSON body too."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == JSON_TYPE:
            raise
        message = exc.reason if exc.status != 404 else f"no such path: {request.path}"
        headers = {k: v for k, v in exc.headers.items()
                   if k not in (hdrs.CONTENT_TYPE, hdrs.CONTENT_LENGTH)}
        reply = web.json_response({"error": message}, status=exc.status, headers=headers)
        if request.can_read_body:  # a body we will never read: do not linger on it
            reply.force_close()
        return reply


def token_middleware(token: str) -> Middleware:
    """Require ``Authorization: Bearer <token>`` or ``?token=`` everywhere but ``/healthz``."""
    expected = token.encode()

    @web.middleware
    async def require_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path != wire.PATH_HEALTH:
            header = request.headers.get(wire.HEADER_AUTHORIZATION, "")
            if header.startswith(wire.BEARER_PREFIX):
                supplied = header[len(wire.BEARER_PREFIX):].strip()
            else:
                supplied = request.query.get(wire.PARAM_TOKEN, "")
            # compare_digest: the time taken must not reveal how much of a guess was right.
            if not supplied or not hmac.compare_digest(supplied.encode(), expected):
                reason = "wrong token" if supplied else "this server requires a token"
                raise json_error(
                    web.HTTPUnauthorized, reason, close=request.can_read_body,
                    headers={hdrs.WWW_AUTHENTICATE: "Bearer"},
                )
        return await handler(request)

    return require_token


class TransferSlots:
    """Counts running transfers, overall and per client address, against their caps."""

    def __init__(self, max_total: int, max_per_client: int) -> None:
        self.max_total = max_total
        self.max_per_client = max_per_client
        self.active = 0
        self._per_client: dict[str, int] = {}

    def active_for(self, client: str) -> int:
        return self._per_client.get(client, 0)

    @contextmanager
    def hold(self, request: web.Request) -> Iterator[None]:
        """Hold one slot for the duration of a transfer, or refuse with 503 + Retry-After."""
        client = request.remote or "unknown"
        if self.active >= self.max_total:
            raise self._busy(request, f"server busy: {self.max_total} transfers running")
        if self.active_for(client) >= self.max_per_client:
            raise self._busy(
                request, f"too many transfers from {client}: limit {self.max_per_client}"
            )
        self.active += 1
        self._per_client[client] = self.active_for(client) + 1
        try:
            yield
        finally:
            self.active -= 1
            left = self._per_client[client] - 1
            if left:
                self._per_client[client] = left
            else:
                del self._per_client[client]

    @staticmethod
    def _busy(request: web.Request, message: str) -> web.HTTPServiceUnavailable:
        return json_error(
            web.HTTPServiceUnavailable, message, close=request.can_read_body,
            headers={hdrs.RETRY_AFTER: str(wire.RETRY_AFTER_S)},
        )
