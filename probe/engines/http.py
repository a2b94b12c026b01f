"""HTTP plumbing shared by the HTTP-based engines: one aiohttp session, errors as probe.errors.

Timeouts, refused or unresolvable servers, resets and unusable answers become one-line
:mod:`probe.errors` that name the server (``ServerUnreachable``/``MeasurementTimeout`` exit 3,
``ProtocolViolation`` exit 1). Sockets keep the kernel's buffer sizes (autotuning stays on).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import struct
import termios
import time
from collections.abc import AsyncIterator, Callable, Iterator
from urllib.parse import urlsplit

import aiohttp

from probe.errors import MeasurementTimeout, ProtocolViolation, ServerUnreachable, UsageError

USER_AGENT = "broadband-probe"


def check_http_url(url: str) -> str:
    """``url`` without trailing slash, or UsageError when it is not an http(s) URL."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"not a server URL: {url!r} (expected http[s]://HOST[:PORT][/PATH])")
    return url.strip().rstrip("/")


def where(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc or url


@contextlib.contextmanager
def translated_errors(url: str, timeout_s: float) -> Iterator[None]:
    """aiohttp/OS failures talking to ``url`` -> probe.errors, one line each."""
    host = where(url)
    try:
        yield
    except TimeoutError:
        raise MeasurementTimeout(f"{host} did not answer within {timeout_s:g} s") from None
    except aiohttp.ClientConnectorError as exc:
        if isinstance(exc.os_error, ConnectionRefusedError):
            raise ServerUnreachable(
                f"connection refused by {host} (is the server running?)") from None
        reason = exc.os_error.strerror or str(exc.os_error)
        raise ServerUnreachable(f"cannot connect to {host}: {reason}") from None
    except aiohttp.ClientResponseError as exc:
        raise ProtocolViolation(f"{host} answered HTTP {exc.status} for {url}") from None
    except aiohttp.ServerDisconnectedError:
        raise ServerUnreachable(f"{host} closed the connection before answering") from None
    except aiohttp.ClientPayloadError as exc:
        raise ProtocolViolation(f"{host} sent a broken response body: {exc}") from None
    except aiohttp.InvalidURL:
        raise UsageError(f"not a server URL: {url!r}") from None
    except aiohttp.ClientError as exc:
        raise ServerUnreachable(f"{host}: {type(exc).__name__}: {exc}") from None
    except OSError as exc:
        raise ServerUnreachable(f"{host}: {exc.strerror or exc}") from None


@contextlib.asynccontextmanager
async def session(timeout_s: float, *, limit: int = 64) -> AsyncIterator[aiohttp.ClientSession]:
    """A session whose connect and read timeouts are ``timeout_s`` (no total limit)."""
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=timeout_s, sock_read=timeout_s)
    connector = aiohttp.TCPConnector(limit=limit, force_close=False, enable_cleanup_closed=True)
    async with aiohttp.ClientSession(
        timeout=timeout, connector=connector, auto_decompress=False,
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
    ) as client:
        try:
            yield client
        finally:
            # Aborted transfers close their transports on the next loop turns; let them
            # finish closing before the caller's loop may end.
            await client.close()
            for _ in range(3):
                await asyncio.sleep(0)


async def http_rtts_ms(
    client: aiohttp.ClientSession, url: str, count: int, timeout_s: float
) -> list[float]:
    """``count`` request-response round trips to ``url`` on one warm connection (LibreSpeed's
    and Ookla's "ping"); the first request opens the connection and is not counted."""
    rtts: list[float] = []
    with translated_errors(url, timeout_s):
        for i in range(count + 1):
            started = time.perf_counter()
            async with client.get(url, params={"r": str(i)}) as response:
                await response.read()
                if response.status >= 400:
                    raise ProtocolViolation(
                        f"{where(url)} answered HTTP {response.status} for {url}")
            if i:
                rtts.append((time.perf_counter() - started) * 1000.0)
    return rtts


async def sleep_until(loop: asyncio.AbstractEventLoop, t: float) -> None:
    delay = t - loop.time()
    if delay > 0:
        await asyncio.sleep(delay)


def unacked_bytes(writer: asyncio.StreamWriter) -> int:
    """Bytes written but not yet acknowledged by the peer: the transport's buffer plus the
    socket's send queue (SIOCOUTQ, Linux; 0 where the kernel cannot say)."""
    buffered = writer.transport.get_write_buffer_size()
    sock = writer.get_extra_info("socket")
    if sock is None:
        return buffered
    try:
        raw = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
    except OSError:
        return buffered
    return buffered + int(struct.unpack("i", raw)[0])


async def post_stream(
    url: str, *, total_bytes: int, piece: bytes, on_sent: Callable[[int], None],
    timeout_s: float, on_connected: Callable[[Callable[[], int]], None] | None = None,
) -> int:
    """POST ``total_bytes`` (``piece`` repeated) to ``url`` on a fresh connection; the status.

    Written on a plain asyncio stream rather than aiohttp so that an upload cancelled at the
    deadline *aborts* its connection: a closed transport with a full send buffer would
    otherwise linger until the server read it. ``on_sent`` gets each piece once the transport
    took it; ``on_connected`` gets a callable that says how many of those the server has not
    yet acknowledged (:func:`unacked_bytes`), so the caller can count what crossed the line.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    head = (f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUser-Agent: {USER_AGENT}\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {total_bytes}\r\n"
            "Connection: close\r\n\r\n").encode("latin-1")
    writer: asyncio.StreamWriter | None = None
    try:
        with translated_errors(url, timeout_s):
            async with asyncio.timeout(timeout_s):
                reader, writer = await asyncio.open_connection(
                    host, port, ssl=True if parts.scheme == "https" else None)
            writer.write(head)
            if on_connected is not None:
                connected = writer
                head_bytes = len(head)
                on_connected(lambda: max(0, unacked_bytes(connected) - head_bytes))
            sent = 0
            while sent < total_bytes:
                chunk = piece[: total_bytes - sent]
                writer.write(chunk)
                # Counted as handed over at once: the transport's buffer is part of what
                # ``unacked_bytes`` subtracts, so the difference never dips mid-chunk.
                on_sent(len(chunk))
                sent += len(chunk)
                await writer.drain()
            async with asyncio.timeout(timeout_s):
                status_line = await reader.readline()
        fields = status_line.split()
        if len(fields) < 2 or not fields[1].isdigit():
            raise ProtocolViolation(f"{where(url)} answered an upload with {status_line[:60]!r}")
        return int(fields[1])
    finally:
        if writer is not None:
            writer.transport.abort()
