"""The guided run's live display: one line per step, drawn with rich on a terminal's stderr
and as plain ``probe: [step] ...`` lines when stderr is not a terminal (logs, CI, ``| tee``).

With ``--json`` nothing is drawn: stdout carries exactly one JSON object and stderr stays quiet.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from probe.engine.plan import Progress

PHASE_TITLES = {"latency": "idle latency", "download": "download", "upload": "upload"}


class Steps:
    """Shows which step runs and what it found; ``mode`` is "rich", "plain" or "quiet"."""

    def __init__(self, mode: str, stream: TextIO | None = None) -> None:
        self.mode = mode
        self.stream = stream or sys.stderr
        self._started = time.monotonic()
        self._live: Any = None
        self._tasks: dict[str, Any] = {}
        if mode == "rich":
            from rich.console import Console
            from rich.progress import BarColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as RichProgress

            self._live = RichProgress(
                SpinnerColumn(finished_text="[green]✓"), TextColumn("{task.description:<22}"),
                BarColumn(bar_width=24), TextColumn("{task.fields[detail]}"),
                TimeElapsedColumn(), console=Console(file=self.stream))
            self._live.start()

    @classmethod
    def for_args(cls, json_output: bool, stream: TextIO | None = None) -> Steps:
        stream = stream or sys.stderr
        if json_output:
            return cls("quiet", stream)
        return cls("rich" if stream.isatty() else "plain", stream)

    def elapsed_s(self) -> float:
        return time.monotonic() - self._started

    def begin(self, key: str, title: str, total: float = 1.0) -> None:
        if self._live is not None:
            self._tasks[key] = self._live.add_task(title, total=total, detail="")
        elif self.mode == "plain":
            print(f"probe: [{self.elapsed_s():5.1f} s] {title} ...", file=self.stream,
                  flush=True)

    def update(self, key: str, *, done: float | None = None, detail: str = "") -> None:
        if self._live is not None and key in self._tasks:
            fields: dict[str, Any] = {"detail": detail}
            if done is not None:
                fields["completed"] = done
            self._live.update(self._tasks[key], **fields)

    def finish(self, key: str, title: str, detail: str) -> None:
        if self._live is not None:
            if key not in self._tasks:
                self.begin(key, title)
            task = self._tasks[key]
            total = self._live.tasks[task].total or 1.0
            self._live.update(task, completed=total, detail=detail)
        elif self.mode == "plain":
            print(f"probe: [{self.elapsed_s():5.1f} s] {title}: {detail}", file=self.stream,
                  flush=True)

    def measurement_progress(self, label: str) -> Callable[[Progress], None]:
        """An ``on_progress`` callback drawing the client's phases as steps."""
        seen: dict[str, float] = {}

        def on_progress(p: Progress) -> None:
            key = f"{label}:{p.phase}"
            if key not in seen:
                for done_key, total in seen.items():  # the phase before has ended
                    self.update(done_key, done=total)
            if p.phase == "done":
                return
            title = f"{PHASE_TITLES.get(p.phase, p.phase)}{'' if not label else f' ({label})'}"
            if key not in seen:
                seen[key] = p.duration_s or 1.0
                self.begin(key, title, total=seen[key])
            rate = "" if p.current_mbps is None else f"{p.current_mbps:9.2f} Mbit/s"
            self.update(key, done=p.elapsed_s if p.duration_s else None, detail=rate)

        return on_progress

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
