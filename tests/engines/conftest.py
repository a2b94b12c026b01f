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
        stop_process(proc)


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
