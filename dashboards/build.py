"""Write (or check) the committed dashboard JSON from the generator.

    python -m dashboards.build           # rewrite dashboards/{influxql,metricsql}/*.json
    python -m dashboards.build --check   # exit 1 if a committed file differs (CI, tests)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from dashboards.grafana import FLAVOURS, render
from dashboards.views import DASHBOARDS

ROOT = Path(__file__).resolve().parent


def generated() -> dict[Path, str]:
    """Every dashboard file the generator produces: path -> exact text."""
    out: dict[Path, str] = {}
    for flavour in FLAVOURS:
        for name, board in DASHBOARDS:
            out[ROOT / flavour / f"{name}.json"] = dumps(render(board, flavour))
    return out


def dumps(model: dict[str, Any]) -> str:
    return json.dumps(model, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dashboards.build", description=__doc__)
    parser.add_argument("--check", action="store_true",
                        help="compare with the committed files instead of writing them")
    args = parser.parse_args(argv)
    stale = []
    for path, text in generated().items():
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    for path in stale:
        print(f"dashboards: {path.relative_to(ROOT.parent)} differs from the generator; run "
              "python -m dashboards.build", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
