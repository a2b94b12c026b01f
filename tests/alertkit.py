"""A real Alertmanager (Debian prometheus-alertmanager) and a webhook receiver for tests.

``alertmanager_with_hook`` starts a receiver on a free loopback port, then Alertmanager on
another with a temp config whose only receiver is that webhook (``send_resolved``), grouped
per subscriber with short waits so a test sees notifications within seconds; both are stopped
afterwards. Import into a conftest::

    from tests.alertkit import alertmanager_with_hook, webhook_receiver  # noqa: F401
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.servicekit import _wait_ready, http
from tests.support import free_port, stop_process

ALERTMANAGER = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"


@dataclass
class WebhookReceiver:
    """Keeps every JSON body POSTed to it; answers ``status`` (200 unless told otherwise)."""

    status: int = 200
    bodies: list[Any] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None
    arrived: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                self.send_response(receiver.status)
                self.end_headers()
                self.wfile.write(b"{}")
                with receiver.arrived:
                    receiver.paths.append(self.path)
                    receiver.bodies.append(json.loads(raw or b"null"))
                    receiver.arrived.notify_all()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # shutdown() waits for serve_forever's next poll: 50 ms, not the default 0.5 s.
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def wait_for(self, count: int, timeout_s: float = 20.0) -> list[Any]:
        """Block until at least ``count`` bodies arrived (or the timeout); returns them all."""
        deadline = time.monotonic() + timeout_s
        with self.arrived:
            while len(self.bodies) < count and time.monotonic() < deadline:
                self.arrived.wait(max(0.0, deadline - time.monotonic()))
            return list(self.bodies)


class Alertmanager:
    """prometheus-alertmanager on loopback, clustering off, notifying one webhook."""

    def __init__(self, root: Path, webhook_url: str, config: str | None = None) -> None:
        self.root = root
        self.port = free_port()
        self.webhook_url = webhook_url
        self.config = config  # a whole alertmanager.yml instead of the one-webhook default
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write_config(self) -> Path:
        """A config whose one receiver is the webhook, grouped per subscriber, short waits."""
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "alertmanager.yml"
        config.write_text(self.config or f"""\
route:
  receiver: hook
  group_by: [alertname, subscriber]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 24h
receivers:
  - name: hook
    webhook_configs:
      - url: "{self.webhook_url}"
        send_resolved: true
""")
        return config

    def argv(self) -> list[str]:
        return [ALERTMANAGER, f"--config.file={self.write_config()}",
                f"--storage.path={self.root / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=", "--log.level=warn"]

    def start(self) -> None:
        argv = self.argv()
        log = self.root / "alertmanager.log"
        with log.open("ab") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        _wait_ready(f"{self.url}/-/ready", self.proc, log, {200})

    def stop(self) -> None:
        stop_process(self.proc, timeout_s=15)
        self.proc = None

    def alerts(self) -> list[dict[str, Any]]:
        status, body = http("GET", f"{self.url}/api/v2/alerts")
        assert status == 200, body
        return list(json.loads(body))


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()


@pytest.fixture
def alertmanager_with_hook(
    tmp_path: Path, webhook_receiver: WebhookReceiver
) -> Iterator[tuple[Alertmanager, WebhookReceiver]]:
    if not Path(ALERTMANAGER).exists():
        pytest.skip("prometheus-alertmanager is not installed (.ci/setup installs it)")
    am = Alertmanager(tmp_path / "am", webhook_receiver.url)
    try:
        am.start()
        yield am, webhook_receiver
    finally:
        am.stop()
