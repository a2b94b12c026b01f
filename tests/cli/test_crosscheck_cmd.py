"""``probe crosscheck`` as a user runs it, against a real ``probe serve``."""

from __future__ import annotations

import json

import pytest

from tests.support import run_cli, serve_process

pytestmark = pytest.mark.slow


def test_two_engines_json() -> None:
    with serve_process() as url:
        proc = run_cli(["crosscheck", "--server", url, "--backends", "native,librespeed",
                        "--duration", "1", "--direction", "down", "--json", "--no-store"])
    assert proc.returncode == 0, proc.stderr
    body = json.loads(proc.stdout)
    assert [r["backend"] for r in body["records"]] == ["native", "librespeed"]
    assert body["comparison"][0]["direction"] == "download"
    assert {f["backend"] for f in body["comparison"][0]["figures"]} == {"native", "librespeed"}
    assert body["failed"] == []


def test_failed_engine_is_reported_and_others_still_run() -> None:
    with serve_process() as url:
        proc = run_cli(["crosscheck", "--server", url, "--backends", "native,iperf3",
                        "--server-for", "iperf3=127.0.0.1:9", "--duration", "1",
                        "--direction", "down", "--no-store"])
    assert proc.returncode == 3
    assert "probe: error: iperf3: iperf3 server 127.0.0.1:9" in proc.stderr
    assert "native" in proc.stdout
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["--backends", "native"], "at least two backends"),
    (["--backends", "native,bogus"], "unknown backend(s) bogus"),
    (["--backends", "native,ndt7", "--server-for", "ndt7=wss://ndt.measurementlab.net"],
     "--consent-mlab"),
    (["--server-for", "x"], "--server-for wants NAME=URL"),
])
def test_usage_errors(args: list[str], message: str) -> None:
    proc = run_cli(["crosscheck", "--server", "http://127.0.0.1:9", *args, "--no-store"])
    assert proc.returncode == 2
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
