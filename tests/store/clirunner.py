"""Run the store commands as a user would, in a subprocess, through probe.cli.main.

Only the store commands (``history_cmd``, ``store_cmd``) are registered, so these tests do
not depend on other command modules being importable; the error handling and exit codes are
main()'s own.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence

_BOOT = (
    "import sys, probe.cli.main as m; "
    "m.COMMAND_MODULES = ('probe.cli.history_cmd', 'probe.cli.store_cmd'); "
    "sys.exit(m.main(sys.argv[1:]))"
)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def command(args: Sequence[str]) -> list[str]:
    return [sys.executable, "-c", _BOOT, *args]


def environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROBE_")}
    env["PYTHONPATH"] = ROOT
    env.update(extra or {})
    return env


def run_probe(
    args: Sequence[str], *, env: Mapping[str, str] | None = None, timeout_s: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command(args), capture_output=True, text=True, timeout=timeout_s,
                          env=environment(env), cwd=ROOT, check=False)


def start_probe(args: Sequence[str], *, env: Mapping[str, str] | None = None
                ) -> subprocess.Popen[str]:
    return subprocess.Popen(command(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=environment(env), cwd=ROOT)
