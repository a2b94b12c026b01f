"""Reading the kernel's small text files (sysfs, procfs) under a root that tests can replace.

``HostRoot`` is the one place that knows where /sys and /proc are. Tests and the namespace lab
point it at a prepared tree (``PROBE_HOSTFACTS_ROOT``), and every fact then names the file it
came from, so a report never hides that its facts were injected.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT_ENV = "PROBE_HOSTFACTS_ROOT"


@dataclass(frozen=True, slots=True)
class HostRoot:
    """Where the host's /sys and /proc live (``/`` on a real host)."""

    path: Path = Path("/")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> HostRoot:
        env = os.environ if env is None else env
        return cls(Path(env.get(ROOT_ENV) or "/"))

    def file(self, *parts: str) -> Path:
        return self.path.joinpath(*parts)

    def net(self, interface: str, *parts: str) -> Path:
        return self.file("sys", "class", "net", interface, *parts)

    def read(self, path: Path) -> str | None:
        """The file's text stripped, or None when it is missing or unreadable.

        sysfs answers EINVAL for a link that is down (``speed``) and EACCES in some
        containers; both mean "not known here", not an error of the probe.
        """
        try:
            return path.read_text(encoding="utf-8", errors="replace").strip()
        except (OSError, ValueError):
            return None

    def read_int(self, path: Path) -> int | None:
        text = self.read(path)
        try:
            return None if text is None else int(text)
        except ValueError:
            return None
