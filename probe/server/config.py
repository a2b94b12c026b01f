"""The measurement server's configuration: one frozen value, validated when it is built.

Defaults are the guard rails of :mod:`probe.wire`; ``probe serve`` maps one flag to each field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from probe import wire
from probe.errors import ConfigError

DEFAULT_HOST = "127.0.0.1"
# One random buffer per worker; the download repeats it. 16 MiB keeps memory small and is far
# beyond any compressor's window.
DEFAULT_PAYLOAD_BYTES = 16 * 1024 * 1024
# aiohttp pauses reading a request body when its buffer holds 2x this; 64 KiB (the aiohttp
# default) means many small wake-ups per MiB uploaded.
DEFAULT_READ_BUFSIZE_BYTES = 1024 * 1024
# A connection with no request in progress (idle keep-alive, or headers never completed) is
# closed after this; aiohttp's own default is an hour.
DEFAULT_IDLE_S = 75.0
# How long in-flight transfers get to finish on SIGTERM before they are cut off.
DEFAULT_SHUTDOWN_S = 1.0


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Everything a measurement server needs to know; no file or environment access here."""

    host: str = DEFAULT_HOST
    port: int = wire.DEFAULT_PORT
    token: str | None = None
    max_transfer_bytes: int = wire.DEFAULT_MAX_TRANSFER_BYTES
    max_transfer_s: float = wire.DEFAULT_MAX_TRANSFER_S
    max_concurrent: int = wire.DEFAULT_MAX_CONCURRENT_TRANSFERS
    max_per_client: int = wire.DEFAULT_MAX_TRANSFERS_PER_CLIENT
    access_log: bool = False
    # sendfile(2) from an in-memory file. Measured: it costs ~1.8x the CPU of write() on
    # loopback and veth (docs/server.md), so it is opt-in, for NICs where it may pay.
    use_sendfile: bool = False
    payload_bytes: int = DEFAULT_PAYLOAD_BYTES
    read_bufsize_bytes: int = DEFAULT_READ_BUFSIZE_BYTES
    shutdown_s: float = DEFAULT_SHUTDOWN_S
    idle_s: float = DEFAULT_IDLE_S

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port must be 0..65535, got {self.port}")
        if not self.host:
            raise ConfigError("host must not be empty")
        if self.token is not None and (not self.token or self.token != self.token.strip()):
            raise ConfigError("token must be non-empty and have no surrounding whitespace")
        if self.max_transfer_bytes < 1:
            raise ConfigError(f"max transfer bytes must be >= 1, got {self.max_transfer_bytes}")
        if not (math.isfinite(self.max_transfer_s) and self.max_transfer_s > 0):
            raise ConfigError(f"max transfer seconds must be > 0, got {self.max_transfer_s}")
        if self.max_concurrent < 1:
            raise ConfigError(f"max concurrent transfers must be >= 1, got {self.max_concurrent}")
        if self.max_per_client < 1:
            raise ConfigError(f"max transfers per client must be >= 1, got {self.max_per_client}")
        if self.payload_bytes < 65536:
            raise ConfigError(f"payload must be >= 65536 bytes, got {self.payload_bytes}")
        if self.read_bufsize_bytes < 4096:
            raise ConfigError(f"read buffer must be >= 4096 bytes, got {self.read_bufsize_bytes}")
        if not (math.isfinite(self.idle_s) and self.idle_s > 0):
            raise ConfigError(f"idle seconds must be > 0, got {self.idle_s}")
        if not (math.isfinite(self.shutdown_s) and self.shutdown_s >= 0):
            raise ConfigError(f"shutdown seconds must be >= 0, got {self.shutdown_s}")
