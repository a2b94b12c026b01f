"""Lab fixtures: a shaped two-namespace network with ``probe serve`` running on the server side.

Skips (with the reason) where namespaces cannot be made; CI runs as root, so there they run.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.lab.netlab import Lab, LabUnavailable, lab, lab_unavailable_reason, probe_server

PROBE_PORT = 8080


@pytest.fixture(scope="module")
def shaped_lab() -> Iterator[Lab]:
    reason = lab_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    try:
        with lab() as the_lab:
            yield the_lab
    except LabUnavailable as exc:  # e.g. a kernel without veth or tbf
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def lab_server(shaped_lab: Lab) -> Iterator[str]:
    """``probe serve`` inside the server namespace; yields its URL as seen from the client."""
    with probe_server(shaped_lab, PROBE_PORT) as url:
        yield url
