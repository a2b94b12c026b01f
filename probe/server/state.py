"""What a running server application holds, under typed ``AppKey``s (set up in ``app.py``)."""

from __future__ import annotations

from aiohttp import web

from probe.server.config import ServerConfig
from probe.server.guards import TransferSlots
from probe.server.payload import RandomPayload
from probe.server.uploadstatus import UploadRegistry

CONFIG: web.AppKey[ServerConfig] = web.AppKey("config", ServerConfig)
PAYLOAD: web.AppKey[RandomPayload] = web.AppKey("payload", RandomPayload)
SLOTS: web.AppKey[TransferSlots] = web.AppKey("slots", TransferSlots)
UPLOADS: web.AppKey[UploadRegistry] = web.AppKey("uploads", UploadRegistry)
