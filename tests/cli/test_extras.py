"""Optional parts: a command whose extra is missing says so in one line and exits 2.

Two ways of taking the extras away: a subprocess whose ``sitecustomize`` hides pandas/numpy or
influxdb-client (fast, every command), and a fresh venv with ``pip install .`` and no extras in
a fresh HOME (slow: the real thing a router gets), which also shows that ``probe demo`` leaves
the default store untouched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.support import ROOT

CONTRACT = ROOT / "contracts" / "us-tier-300.toml"
BLOCKER = '''
import os, sys
_BLOCKED = set(os.environ.get("PROBE_TEST_HIDE", "").split(","))

class _Hide:
    """Behave as if these top-level modules were not installed."""
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in _BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _Hide())
'''
ANALYSIS = "'broadband-probe[analysis]'"
INFLUX = "'broadband-probe[influx]'"


@pytest.fixture(scope="module")
def hider(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hide")
    (folder / "sitecustomize.py").write_text(BLOCKER)
    return folder


def run_hidden(hider: Path, hide: str, args: Sequence[str], tmp_path: Path
               ) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": f"{hider}{os.pathsep}{ROOT}", "PROBE_TEST_HIDE": hide,
           "PROBE_STATE_DIR": str(tmp_path / "state")}
    return subprocess.run([sys.executable, "-m", "probe", *args], capture_output=True,
                          text=True, timeout=60, env=env, cwd=tmp_path, check=False)


def measurements(tmp_path: Path) -> Path:
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps({"id": "a", "started_at": "2026-03-02T23:00:00Z",
                                "download_mbps": 290.0, "upload_mbps": 19.0,
                                "latency_ms": 20.0}) + "\n")
    return path


def assert_one_line(proc: subprocess.CompletedProcess[str], expected: str) -> None:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert proc.stderr.splitlines() == [expected], proc.stderr


class TestHiddenExtras:
    def test_evaluate_without_pandas(self, hider: Path, tmp_path: Path) -> None:
        proc = run_hidden(hider, "pandas,numpy", ["evaluate", "--contract", str(CONTRACT),
                                                  "--measurements", str(measurements(tmp_path))],
                          tmp_path)
        assert_one_line(proc, "probe: error: `probe evaluate` needs pandas, which is not "
                              f"installed: pip install {ANALYSIS}")

    def test_forward_without_influxdb_client(self, hider: Path, tmp_path: Path) -> None:
        proc = run_hidden(hider, "influxdb_client", [
            "forward", "--once", "--url", "http://127.0.0.1:9", "--kind", "victoriametrics",
            "--db", str(tmp_path / "none.db")], tmp_path)
        assert_one_line(proc, "probe: error: `probe forward` needs influxdb-client, which is "
                              f"not installed: pip install {INFLUX}")

    def test_what_needs_no_extra_still_works(self, hider: Path, tmp_path: Path) -> None:
        hide = "pandas,numpy,influxdb_client,scipy"
        assert run_hidden(hider, hide, ["--help"], tmp_path).returncode == 0
        validate = run_hidden(hider, hide, ["contracts", "validate", str(CONTRACT)], tmp_path)
        assert validate.returncode == 0, validate.stderr
        demo = run_hidden(hider, hide, ["demo", "--duration", "1", "--streams", "1", "--json"],
                          tmp_path)
        assert demo.returncode == 0, demo.stderr
        assert json.loads(demo.stdout)["check"]["profile"] == "cn-miit"


@pytest.fixture(scope="module")
def bare_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with ``pip install .``: the core dependencies only, no extras.

    The venv gets no pip of its own (ensurepip takes ~7 s); this interpreter's pip installs
    into it (``--python``, pip >= 22.3), resolving and building exactly as a user's would.
    No byte-compiling: the commands below import a small part of what is installed.
    """
    where = tmp_path_factory.mktemp("bare") / "venv"
    venv.EnvBuilder(with_pip=False).create(where)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(where / "bin" / "python"),
                    "install", "-q", "--no-compile", str(ROOT)],
                   check=True, capture_output=True, timeout=600)
    return where


@pytest.mark.slow
class TestFreshInstall:
    """What a router gets from ``pip install broadband-probe``, run in a fresh HOME."""

    def run(self, venv_dir: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
        env = {"PATH": f"{venv_dir / 'bin'}:/usr/bin:/bin", "HOME": str(home),
               "LANG": "C.UTF-8", "PROBE_STATE_DIR": str(home / "state")}
        return subprocess.run([str(venv_dir / "bin" / "probe"), *args], capture_output=True,
                              text=True, timeout=120, env=env, cwd=home, check=False)

    def test_demo_leaves_the_default_store_untouched(self, bare_venv: Path,
                                                     tmp_path: Path) -> None:
        home = tmp_path / "home"
        home.mkdir()
        proc = self.run(bare_venv, home, "demo", "--duration", "1", "--streams", "1")
        assert proc.returncode == 0, proc.stderr
        assert "stored    a throw-away store, deleted now" in proc.stdout
        assert sorted(p.name for p in home.rglob("*")) == []
        no_store = self.run(bare_venv, home, "history")
        assert no_store.returncode == 2
        assert "no result store at" in no_store.stderr

    def test_missing_extras_are_one_line(self, bare_venv: Path, tmp_path: Path) -> None:
        home = tmp_path / "home"
        home.mkdir()
        evaluate = self.run(bare_venv, home, "evaluate", "--contract", str(CONTRACT),
                            "--measurements", str(measurements(tmp_path)))
        assert_one_line(evaluate, "probe: error: `probe evaluate` needs pandas, which is not "
                                  f"installed: pip install {ANALYSIS}")
        forward = self.run(bare_venv, home, "forward", "--once", "--url",
                           "http://127.0.0.1:9", "--kind", "victoriametrics")
        assert_one_line(forward, "probe: error: `probe forward` needs influxdb-client, which is "
                                 f"not installed: pip install {INFLUX}")
