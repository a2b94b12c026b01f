"""``probe check --report DIR``: hands the check's values to the report adapter."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from probe import __version__

if TYPE_CHECKING:
    from probe.compliance.attribution import FieldCheck


def require_report_extra() -> None:
    """Fail before measuring when the report libraries are missing."""
    from probe.fieldreport.render import require_report_extra as check

    check()


def write_check_report(result: FieldCheck, directory: Path) -> dict[str, Path]:
    from probe.fieldreport.page import ReportInput
    from probe.fieldreport.render import write_report

    data = ReportInput(result, generated_at=datetime.now(UTC),
                       probe_version=f"probe {__version__}")
    return write_report(data, directory)
