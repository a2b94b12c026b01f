"""Agent test helpers: write an agent config around a real `probe serve` and a store path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.agent.configkit import agent_config
from tests.servicekit import victoria_metrics  # noqa: F401  (fixture)


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    def make(servers: list[str], **kwargs: object) -> Path:
        return agent_config(tmp_path, servers, **kwargs)  # type: ignore[arg-type]
    return make
