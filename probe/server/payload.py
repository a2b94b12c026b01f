"""Download bodies: N incompressible bytes, at the lowest CPU cost we measured.

One random block per worker process is generated once from ``os.urandom`` and written
straight to the socket (:mod:`probe.server.sender`), or, where that is unsafe (TLS), as
``memoryview`` slices through the transport. Optionally
(``use_sendfile``) it is also put in an anonymous in-memory file (``memfd_create``) and sent
with ``loop.sendfile``; on loopback and veth that costs more CPU than ``write()`` (figures in
docs/server.md), so it is off by default and falls back to ``write()`` where sendfile cannot
work (TLS, event loops without it). A body longer than the block repeats it; a 16 MiB period is
far beyond any compressor's window, so the bytes stay incompressible (tests check zlib).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os

from aiohttp import web

from probe.server.sender import raw_socket, send_raw

# Size of each write(): 1 MiB measured cheaper per GB than 256 KiB (docs/server.md).
WRITE_SLICE_BYTES = 1024 * 1024


class RandomPayload:
    """A block of random bytes as a sendfile-able file and as a memoryview."""

    def __init__(self, size_bytes: int, *, with_file: bool = False) -> None:
        data = os.urandom(size_bytes)
        self.size_bytes = size_bytes
        self.view = memoryview(data)
        self.file: io.FileIO | None = None
        memfd_create = getattr(os, "memfd_create", None)
        if with_file and memfd_create is not None:  # Linux; elsewhere write() serves
            fd = memfd_create("probe-payload", getattr(os, "MFD_CLOEXEC", 0))
            written = 0
            while written < size_bytes:
                written += os.write(fd, self.view[written:])
            self.file = io.FileIO(fd, "rb", closefd=True)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
        self.view.release()


async def send_random(
    request: web.Request, response: web.StreamResponse, payload: RandomPayload, count: int,
    *, use_sendfile: bool,
) -> None:
    """Write ``count`` random bytes as the body of an already prepared response.

    Raises ``ConnectionError`` when the client goes away; callers treat that as normal.
    """
    transport = request.transport
    if transport is None or transport.is_closing():
        raise ConnectionResetError("client went away")
    sent = 0
    if use_sendfile and payload.file is not None:
        loop = asyncio.get_running_loop()
        try:
            while sent < count:
                n = await loop.sendfile(
                    transport, payload.file, 0, min(count - sent, payload.size_bytes),
                    fallback=False,
                )
                if n == 0:
                    break
                sent += n
        except (RuntimeError, NotImplementedError):
            # RuntimeError covers SendfileNotAvailableError (nothing of this call was sent)
            # and "not supported for transport" (TLS); uvloop raises NotImplementedError.
            if transport.is_closing():
                raise ConnectionResetError("client went away") from None
        else:
            return
    if sent == 0 and (sock := raw_socket(transport)) is not None:
        await send_raw(sock, payload.view, count)
        return
    await _write_slices(response, payload, count - sent)


async def _write_slices(response: web.StreamResponse, payload: RandomPayload, count: int) -> None:
    view = payload.view
    offset = 0
    while count > 0:
        n = min(count, WRITE_SLICE_BYTES, payload.size_bytes - offset)
        await response.write(view[offset:offset + n])
        count -= n
        offset = (offset + n) % payload.size_bytes


def abort(request: web.Request) -> None:
    """Drop the connection now: a body cut short must not look complete."""
    transport = request.transport
    if transport is not None:
        with contextlib.suppress(Exception):
            transport.abort()
