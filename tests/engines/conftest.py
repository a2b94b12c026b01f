"""Servers nobody here wrote, started on loopback for the engine tests: LibreSpeed's PHP backend
(``shared/interop/librespeed-backend``, run by Debian's php-cli from a copy) and iperf3."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import free_port, stop_process, wait_http

LIBRESPEED_BACKEND = Path(os.environ.get("PROBE_LIBRESPEED_BACKEND",
                                         "/work/shared/interop/librespeed-backend"))


def _php_backend(root: Path) -> Iterator[str]:
    if shutil.which("php") is None:
        pytest.skip("php-cli is not installed (.ci/setup installs it)")
    if not LIBRESPEED_BACKEND.is_dir():
        pytest.skip(f"LibreSpeed backend not found at {LIBRESPEED_BACKEND}")
    port = free_port()
    proc = subprocess.Popen(
        ["php", "-S", f"127.0.0.1:{port}", "-t", str(root)],
        env={**os.environ, "PHP_CLI_SERVER_WORKERS": "8"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_php(url, root)
        yield url
    finally:
        stop_process(proc, group=True)


def _wait_php(url: str, root: Path) -> None:
    probe = "backend/empty.php" if (root / "backend").is_dir() else "empty.php"
    wait_http(f"{url}/{probe}", timeout_s=20)


@pytest.fixture(scope="module")
def php_librespeed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """LibreSpeed's PHP backend with its files at the web root."""
    root = tmp_path_factory.mktemp("librespeed-flat")
    shutil.copytree(LIBRESPEED_BACKEND, root, dirs_exist_ok=True)
    yield from _php_backend(root)


@pytest.fixture(scope="module")
def php_librespeed_backend_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The same backend in LibreSpeed's usual layout: files under ``/backend/``."""
    root = tmp_path_factory.mktemp("librespeed-nested")
    shutil.copytree(LIBRESPEED_BACKEND, root / "backend")
    yield from _php_backend(root)


@pytest.fixture
def iperf3_server() -> Iterator[str]:
    """``iperf3 -s -J -i 0.1`` on a free loopback port (JSON, 100 ms intervals, so upload is
    counted by the server); yields ``127.0.0.1:PORT``."""
    if shutil.which("iperf3") is None:
        pytest.skip("iperf3 is not installed (.ci/setup installs it)")
    port = free_port()
    proc = subprocess.Popen(["iperf3", "-s", "-J", "-i", "0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        _wait_port(port)
        yield f"127.0.0.1:{port}"
    finally:
        stop_process(proc, group=True)


def _wait_port(port: int, timeout_s: float = 10.0) -> None:
    import socket
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")
