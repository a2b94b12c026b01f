"""Footprint: the agent's measure → check → store → forward path loads no pandas or numpy
(nor influxdb-client, which would pull numpy in where it is installed). Checked on a real run:
`probe agent --runs 1` against `probe serve`, forwarding to a real VictoriaMetrics, in a fresh
interpreter that then lists what it imported. The figures (RSS, wake-ups) are in
benchmarks/bench_agent_footprint.py."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.servicekit import VictoriaMetrics
from tests.support import ROOT, serve_process

HEAVY = ("pandas", "numpy", "scipy", "influxdb_client", "reactivex", "rich")

pytestmark = [pytest.mark.services, pytest.mark.slow]


def test_agent_run_imports_no_pandas_or_numpy(
    write_config: Callable[..., Path], victoria_metrics: VictoriaMetrics
) -> None:
    with serve_process() as url:
        sink = f'[sink]\nurl = "{victoria_metrics.url}"\nkind = "victoriametrics"\n'
        config = write_config([url, url], extra=sink, probe_id="footprint")
        script = (
            "import json, sys\n"
            "from probe.cli.main import main\n"
            f"code = main(['agent', '--config', {str(config)!r}, '--runs', '1'])\n"
            "tops = sorted({m.split('.')[0] for m in sys.modules})\n"
            "print(json.dumps({'code': code, 'modules': tops}))\n"
        )
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              cwd=ROOT, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    result = json.loads(lines[-1])
    assert result["code"] == 0
    assert any('"event":"forwarded"' in line for line in lines), done.stdout
    loaded = set(result["modules"])
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
    assert "probe" in loaded  # the list is real
