"""Where the server is and how to reach it: URL parsing, connecting, request heads, errors.

Foreign exceptions (``OSError``, ``socket.gaierror``, ``ssl.SSLError``, timeouts) become
:mod:`probe.errors` here, each as one line that names the server:
refused / unresolvable / unreachable / reset before data -> ``ServerUnreachable`` (exit 3),
no answer in time -> ``MeasurementTimeout`` (exit 3), a URL that is not one -> ``UsageError``.
Sockets keep the kernel's buffer sizes: SO_RCVBUF/SO_SNDBUF are never set, because setting
them switches off Linux's receive-window autotuning (docs/measurement.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

from probe import wire
from probe.errors import MeasurementTimeout, ServerUnreachable, UsageError

P = TypeVar("P", bound=asyncio.BaseProtocol)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ServerAddress:
    """A measurement server's base URL, split into what a connection needs."""

    scheme: str
    host: str
    port: int
    base_path: str

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host_header}{self.base_path}"

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def parse_server_url(url: str) -> ServerAddress:
    """``http[s]://host[:port][/prefix]`` -> ServerAddress; UsageError for anything else."""
    text = url.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise UsageError(f"not a server URL: {url!r} ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"not a server URL: {url!r} (expected http://HOST[:PORT])")
    if parts.username or parts.password:
        raise UsageError("put credentials in --token-file, not in the server URL")
    if any(c in text for c in "\r\n \t"):
        raise UsageError(f"not a server URL: {url!r} (contains whitespace)")
    default = 443 if parts.scheme == "https" else 80
    return ServerAddress(parts.scheme, parts.hostname, port or default, parts.path.rstrip("/"))


def request_head(
    address: ServerAddress, method: str, path: str, *, token: str | None,
    extra: tuple[tuple[str, str], ...] = (),
) -> bytes:
    """An HTTP/1.1 request head for ``path`` under the server's base path."""
    lines = [
        f"{method} {address.base_path}{path} HTTP/1.1",
        f"Host: {address.host_header}",
        "User-Agent: broadband-probe",
        "Accept-Encoding: identity",
    ]
    if token is not None:
        lines.append(f"{wire.HEADER_AUTHORIZATION}: {wire.BEARER_PREFIX}{token}")
    lines.extend(f"{name}: {value}" for name, value in extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def check_token(token: str | None) -> None:
    if token is not None and (not token or any(c in token for c in "\r\n\0 \t")):
        raise UsageError("the token must be one line without spaces")


@contextlib.contextmanager
def translated_errors(address: ServerAddress, timeout_s: float) -> Iterator[None]:
    """Turn connect-time failures into ServerUnreachable / MeasurementTimeout."""
    where = f"{address.host}:{address.port}"
    try:
        yield
    except TimeoutError:
        raise MeasurementTimeout(f"no connection to {where} within {timeout_s:g} s") from None
    except socket.gaierror as exc:
        raise ServerUnreachable(f"cannot resolve {address.host!r}: {exc.strerror}") from None
    except ConnectionRefusedError:
        raise ServerUnreachable(f"connection refused by {where} (is the server running?)") from None
    except ssl.SSLError as exc:
        raise ServerUnreachable(f"TLS handshake with {where} failed: {exc.reason}") from None
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise ServerUnreachable(f"cannot connect to {where}: {reason}") from None


async def open_connection(
    address: ServerAddress, factory: Callable[[], P], *, timeout_s: float
) -> P:
    """Connect and return the protocol; translated errors as described in the docstring."""
    loop = asyncio.get_running_loop()
    context = ssl.create_default_context() if address.scheme == "https" else None
    with translated_errors(address, timeout_s):
        async with asyncio.timeout(timeout_s):
            _, protocol = await loop.create_connection(
                factory, address.host, address.port, ssl=context
            )
    return protocol


async def open_socket(address: ServerAddress, *, timeout_s: float) -> socket.socket:
    """A connected non-blocking plain-TCP socket (for the upload fast path; no TLS)."""
    loop = asyncio.get_running_loop()
    with translated_errors(address, timeout_s):
        async with asyncio.timeout(timeout_s):
            infos = await loop.getaddrinfo(address.host, address.port, type=socket.SOCK_STREAM)
            last: OSError = OSError(f"no address for {address.host!r}")
            for family, kind, proto, _, sockaddr in infos:
                sock = socket.socket(family, kind, proto)
                sock.setblocking(False)
                try:
                    await loop.sock_connect(sock, sockaddr)
                except OSError as exc:
                    sock.close()
                    last = exc
                    continue
                except BaseException:
                    sock.close()
                    raise
                return sock
            raise last


async def await_answer(
    future: asyncio.Future[T], *, timeout_s: float, what: str, address: ServerAddress
) -> T:
    """Wait for a response future with the plan's timeout, translating a silent server."""
    try:
        async with asyncio.timeout(timeout_s):
            return await asyncio.shield(future)
    except TimeoutError:
        raise MeasurementTimeout(
            f"{address.host}:{address.port} did not answer {what} within {timeout_s:g} s"
        ) from None
