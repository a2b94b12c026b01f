"""Helpers shared by tests: free loopback ports and the probe CLI runner."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Sequence


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_cli(args: Sequence[str], *, timeout_s: float = 120, input_text: str | None = None,
            cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m probe ARGS`` as a user would, capturing text output."""
    return subprocess.run(
        [sys.executable, "-m", "probe", *args],
        capture_output=True, text=True, timeout=timeout_s, input=input_text, cwd=cwd,
        check=False,
    )
