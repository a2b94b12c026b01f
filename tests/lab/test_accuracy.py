"""Ground truth: on a link shaped with tbf at R, ``probe measure`` reads R x 1448/1514 (±3 %).

The shaper counts the Ethernet header but not FCS/preamble/IFG, so the best possible IPv4 TCP
goodput (MSS 1448 with timestamps, 1514-byte frames) is R x 1448/1514; see tests/lab/netlab.py.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.lab.netlab import Lab

pytestmark = [pytest.mark.lab, pytest.mark.slow]

TOLERANCE = 0.03


def measure_in_lab(the_lab: Lab, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        the_lab.exec_argv(the_lab.client_ns, [
            sys.executable, "-m", "probe", "measure", "--server", url, "--json", *args]),
        capture_output=True, text=True, timeout=120, check=False)


class TestGoodputMatchesShaper:
    """Both directions read the shaped rate's goodput within ±3 % at 20 and 100 Mbit/s."""

    @pytest.mark.parametrize("rate_mbps", [20, 100])
    def test_both_directions(self, shaped_lab: Lab, lab_server: str, rate_mbps: int) -> None:
        shaped_lab.shape(down_mbps=rate_mbps, up_mbps=rate_mbps)
        proc = measure_in_lab(shaped_lab, lab_server, "--duration", "5", "--direction", "both",
                              "--no-store")
        assert proc.returncode == 0, proc.stderr
        record = json.loads(proc.stdout)
        expected = rate_mbps * 1448 / 1514
        for key in ("download_mbps", "upload_mbps"):
            measured = record[key]
            assert measured == pytest.approx(expected, rel=TOLERANCE), (
                f"{key}: {measured:.2f} Mbit/s vs ground truth {expected:.2f}")
        # A shaped queue fills under load, so round trips measured beside the transfer must be
        # longer than idle ones; a loaded latency no larger than idle means it was not sampled
        # during the transfer.
        assert record["loaded_latency_down_ms"] > record["latency_ms"]
        assert record["loaded_latency_up_ms"] > record["latency_ms"]

    def test_asymmetric_link(self, shaped_lab: Lab, lab_server: str) -> None:
        """A 50/10 line reads 50 down and 10 up: directions are not mixed up."""
        shaped_lab.shape(down_mbps=50, up_mbps=10)
        proc = measure_in_lab(shaped_lab, lab_server, "--duration", "4", "--no-store")
        assert proc.returncode == 0, proc.stderr
        record = json.loads(proc.stdout)
        assert record["download_mbps"] == pytest.approx(50 * 1448 / 1514, rel=TOLERANCE)
        assert record["upload_mbps"] == pytest.approx(10 * 1448 / 1514, rel=TOLERANCE)


class TestUnreachableInLab:
    """A server that is not listening yields exit 3 and one line, not a traceback."""

    def test_closed_port(self, shaped_lab: Lab) -> None:
        proc = measure_in_lab(shaped_lab, "http://198.18.0.1:9", "--duration", "1", "--no-store")
        assert proc.returncode == 3
        assert "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
