"""Fixtures shared by every test directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import free_port


@pytest.fixture(autouse=True)
def private_state_dir(tmp_path_factory: pytest.TempPathFactory,
                      monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test (and every `probe` process it starts) gets its own result store directory,
    so no test writes to the real ~/.local/state/probe or /var/lib/probe."""
    state = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("PROBE_STATE_DIR", str(state))
    return state


@pytest.fixture
def unused_port() -> int:
    return free_port()
