"""Agent configs for tests, the lab and benchmarks: one writer instead of a TOML copy each."""

from __future__ import annotations

from pathlib import Path

from tests.support import ROOT


def agent_config(tmp_path: Path, servers: list[str], *, extra: str = "",
                 contract: str = "de-cable-1000.toml", probe_id: str = "agent-test",
                 campaign: str = "off", interval_min: float = 0.1,
                 gating: bool = False, gating_extra: str = "",
                 duration_s: float = 1) -> Path:
    """An agent config around ``servers`` with a short schedule, its store under
    ``tmp_path/state``; ``extra`` is appended (e.g. a ``[sink]`` table)."""
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
duration_s = {duration_s}
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
{gating_extra}
{extra}
"""
    path = tmp_path / "agent.toml"
    path.write_text(text, encoding="utf-8")
    return path
