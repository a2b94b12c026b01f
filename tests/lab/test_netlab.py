"""The lab: both hosts run cubic whatever the machine's default, and the host is kept as found."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.lab.netlab import Lab, lab, lab_unavailable_reason

pytestmark = [pytest.mark.lab]

_SYSCTL = Path("/proc/sys/net/ipv4")


def _namespace_default(the_lab: Lab, ns: str) -> str:
    return subprocess.run(
        the_lab.exec_argv(ns, ["cat", str(_SYSCTL / "tcp_congestion_control")]),
        capture_output=True, text=True, check=True).stdout.strip()


def test_hosts_use_the_labs_congestion_control_and_the_host_is_restored() -> None:
    reason = lab_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    host_default = (_SYSCTL / "tcp_congestion_control").read_text().strip()
    host_allowed = (_SYSCTL / "tcp_allowed_congestion_control").read_text().strip()
    with lab() as the_lab:
        assert _namespace_default(the_lab, the_lab.server_ns) == "cubic"
        assert _namespace_default(the_lab, the_lab.client_ns) == "cubic"
        # While the lab exists the host's own settings are as they were.
        assert (_SYSCTL / "tcp_allowed_congestion_control").read_text().strip() == host_allowed
    assert (_SYSCTL / "tcp_congestion_control").read_text().strip() == host_default
    if "bbr" in (_SYSCTL / "tcp_available_congestion_control").read_text().split():
        with lab(congestion="bbr") as the_lab:
            assert _namespace_default(the_lab, the_lab.client_ns) == "bbr"
    assert (_SYSCTL / "tcp_allowed_congestion_control").read_text().strip() == host_allowed
