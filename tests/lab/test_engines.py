"""Every engine in the shaped lab: within its documented tolerance of R x 1448/1514 at two
rates, and one-line errors when its server is not there."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.lab.engines_lab import ENGINES, TOLERANCE, engine_servers, run_engine
from tests.lab.netlab import Lab

pytestmark = [pytest.mark.lab, pytest.mark.slow]


@pytest.fixture(scope="module")
def engines_lab(shaped_lab: Lab) -> Iterator[Lab]:
    with engine_servers(shaped_lab):
        yield shaped_lab


@pytest.mark.parametrize("engine", [e for e in ENGINES if e != "native"])
@pytest.mark.parametrize("rate_mbps", [20, 80])
def test_engine_reads_the_shaped_rate(engines_lab: Lab, engine: str, rate_mbps: int) -> None:
    engines_lab.shape(down_mbps=rate_mbps, up_mbps=rate_mbps)
    expected = rate_mbps * 1448 / 1514
    run = run_engine(engines_lab, engine, "--duration", "4")
    if run.record is not None and any(
            _flagged_miss(run.record, key, expected, TOLERANCE[engine])
            for key in ("download_mbps", "upload_mbps")):
        # Flagged and outside the tolerance: not evidence, as a user would see; run once more
        # (a speedtest-cli upload read -12 %, flagged unsteady, under CI's own load, and
        # -9.1 % in a full-suite run: its upload is the client's send count, flagged
        # upload_counted_at_client, which is never evidence of the line either).
        run = run_engine(engines_lab, engine, "--duration", "4")
    assert run.returncode == 0, run.stderr
    assert run.record is not None
    assert run.record["backend"] == engine
    for key in ("download_mbps", "upload_mbps"):
        measured = run.record[key]
        assert measured == pytest.approx(expected, rel=TOLERANCE[engine]), (
            f"{engine} {key}: {measured:.2f} Mbit/s vs ground truth {expected:.2f} "
            f"(flags {run.record['flags']})")


def _flagged_miss(record: dict[str, object], key: str, expected: float,
                  tolerance: float) -> bool:
    details = record.get(key.removesuffix("_mbps"))
    measured = record.get(key)
    flags = record.get("flags")
    flagged = (isinstance(details, dict) and details.get("steady") is False) or (
        key == "upload_mbps" and isinstance(flags, list) and "upload_counted_at_client" in flags)
    return flagged and isinstance(measured, float) and abs(measured / expected - 1) > tolerance


@pytest.mark.parametrize("engine", [e for e in ENGINES if e != "native"])
def test_absent_server_is_one_line(shaped_lab: Lab, engine: str) -> None:
    """Nothing listens on the lab server's port 9: exit 3 and one line, for every engine."""
    server = "198.18.0.1:9" if engine == "iperf3" else "http://198.18.0.1:9"
    import subprocess
    import sys

    proc = subprocess.run(shaped_lab.exec_argv(shaped_lab.client_ns, [
        sys.executable, "-m", "probe", "measure", "--backend", engine, "--server", server,
        "--duration", "1", "--no-store"]), capture_output=True, text=True, timeout=60,
        check=False)
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.startswith("probe: error: ")
    assert len(proc.stderr.strip().splitlines()) == 1
