"""Documentation links stay inside the repository and point at files that exist.

A link to a path outside the checkout (e.g. ``../shared/...`` of the development machine) is
dead for every reader of the repository; so is a link to a file that was renamed.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r"\]\(([^)\s]+)\)|`(\.\./[^`\s]+)`")


def markdown_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "*.md"], cwd=ROOT, capture_output=True,
                            text=True, check=False).stdout.split()
    files = [ROOT / name for name in listed] or sorted(ROOT.glob("**/*.md"))
    return [p for p in files if ".venv" not in p.parts and p.is_file()]


@pytest.mark.parametrize("doc", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_links_resolve_inside_the_repository(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    bad = []
    for match in LINK.finditer(text):
        target = (match.group(1) or match.group(2)).split("#", 1)[0]
        if not target or re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, mailto:, ...
            continue
        resolved = (doc.parent / target).resolve()
        if not resolved.is_relative_to(ROOT):
            bad.append(f"{target} (outside the repository)")
        elif not resolved.exists():
            bad.append(f"{target} (no such file)")
    assert not bad, f"{doc.relative_to(ROOT)}: " + ", ".join(bad)
