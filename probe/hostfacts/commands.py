"""Running a diagnostic tool (``ip``, ``iw``) with a short time limit; tests swap in a fake.

A tool that is not installed, fails, or hangs yields ``None``: the caller records an unknown
fact naming the command, and the check goes on.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Sequence

CommandRunner = Callable[[Sequence[str]], "str | None"]

TIMEOUT_S = 3.0
_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def run_tool(argv: Sequence[str]) -> str | None:
    """stdout of ``argv`` when it exits 0 within TIMEOUT_S, else None."""
    if shutil.which(argv[0]) is None:
        return None
    try:
        # LC_ALL=C: the parsers read English field names ("signal:", "tx bitrate:").
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=TIMEOUT_S,
                              check=False, env={"LC_ALL": "C", "PATH": _PATH})
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout if proc.returncode == 0 else None
