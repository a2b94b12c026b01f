"""The measurement server (aiohttp.web): download/upload/ping per :mod:`probe.wire`, LibreSpeed
endpoints, guard rails, and ``--workers`` processes sharing one port.

Public surface: :class:`ServerConfig`, :func:`create_app` (for aiohttp test clients),
:func:`start_server` / :class:`RunningServer` (in-process, e.g. ``probe demo``) and
:func:`serve` (blocking, what ``probe serve`` runs). See ``docs/server.md``.
"""

from probe.server.app import create_app
from probe.server.config import ServerConfig
from probe.server.runner import RunningServer, start_server
from probe.server.workers import serve

__all__ = ["RunningServer", "ServerConfig", "create_app", "serve", "start_server"]
