"""Agent test helpers: write an agent config around a real `probe serve` and a store path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.servicekit import victoria_metrics  # noqa: F401  (fixture)
from tests.support import ROOT


def agent_config(tmp_path: Path, servers: list[str], *, extra: str = "",
                 contract: str = "de-cable-1000.toml", probe_id: str = "agent-test",
                 campaign: str = "off", interval_min: float = 0.1,
                 gating: bool = False) -> Path:
    blocks = "".join(
        f'[[servers]]\nname = "s{i}"\nurl = "{url}"\nrole = "{"on-net" if i == 0 else "off-net"}"\n'
        for i, url in enumerate(servers))
    text = f"""\
[probe]
id = "{probe_id}"
[contract]
file = "{ROOT / 'contracts' / contract}"
{blocks}
[measure]
duration_s = 1
streams = 2
[store]
db = "{tmp_path / 'state' / 'probe.db'}"
[schedule]
interval_min = {interval_min}
peak_interval_min = {interval_min}
campaign = "{campaign}"
[clock]
require_sync = false
[gating]
enabled = {"true" if gating else "false"}
{extra}
"""
    path = tmp_path / "agent.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    def make(servers: list[str], **kwargs: object) -> Path:
        return agent_config(tmp_path, servers, **kwargs)  # type: ignore[arg-type]
    return make
