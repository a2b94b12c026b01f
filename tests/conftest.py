"""Fixtures shared by every test directory."""

from __future__ import annotations

import pytest

from tests.support import free_port


@pytest.fixture
def unused_port() -> int:
    return free_port()
