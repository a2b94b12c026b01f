"""Structured logs: one JSON object per line on stdout (journald, procd's logd, docker logs).

Every record carries ``ts`` (aware UTC, ISO 8601), ``level``, ``event`` (the message) and the
event's fields (``extra={"fields": {...}}``). Flushed per line: procd and docker show nothing
of a block-buffered pipe until it fills. :func:`event` is how the agent's modules log one.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger("probe.agent")


def event(message: str, *, level: int = logging.INFO, **fields: Any) -> None:
    """Log one agent event: ``message`` is its ``event``, ``fields`` its other keys."""
    log.log(level, message, extra={"fields": fields})


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            body.update(fields)
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        return json.dumps(body, default=str, ensure_ascii=False, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None) or {}
        extra = " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
        return f"probe agent: {record.levelname.lower()}: {record.getMessage()} {extra}".rstrip()


def configure(format_name: str, level: int = logging.INFO) -> None:
    """Send the probe's logs to stdout, one line per event, in ``json`` or ``text``."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter() if format_name == "json" else TextFormatter())
    root = logging.getLogger("probe")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
