"""The ``probe`` entry point: help, version, usage errors and the fast start a router needs."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from probe import __version__
from probe.cli.main import COMMAND_MODULES, build_parser, main
from tests.support import run_cli


class TestEntryPoint:
    """``probe`` and ``python -m probe`` explain themselves and fail cleanly."""

    def test_help_lists_every_command(self) -> None:
        proc = run_cli(["--help"])
        assert proc.returncode == 0
        for command in ("measure", "serve", "demo", "check", "evaluate", "contracts",
                        "history", "export", "forward", "status"):
            assert f"    {command}" in proc.stdout

    def test_version(self) -> None:
        proc = run_cli(["--version"])
        assert proc.returncode == 0
        assert proc.stdout.strip() == f"probe {__version__}"

    def test_no_command_is_a_usage_error(self) -> None:
        proc = run_cli([])
        assert proc.returncode == 2
        assert "usage: probe" in proc.stderr

    def test_unknown_command_is_a_usage_error(self) -> None:
        proc = run_cli(["frobnicate"])
        assert proc.returncode == 2
        assert "invalid choice" in proc.stderr
        assert "Traceback" not in proc.stderr

    def test_every_command_says_what_it_does(self) -> None:
        parser = build_parser()
        (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        assert len(sub.choices) >= len(COMMAND_MODULES)
        for action in sub._choices_actions:
            assert action.help, f"`probe {action.dest}` has no one-line help"
        for name, subparser in sub.choices.items():
            assert "usage: probe" in subparser.format_help(), name


class TestLightStart:
    """``probe --help`` does not import the heavy adapters (routers have little RAM and CPU)."""

    def test_help_imports_no_heavy_modules(self) -> None:
        code = (
            "import sys\n"
            "from probe.cli.main import build_parser\n"
            "build_parser().format_help()\n"
            "heavy = [m for m in ('aiohttp', 'pandas', 'numpy', 'influxdb_client', 'scipy')"
            " if m in sys.modules]\n"
            "print(','.join(heavy))\n"
        )
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              check=True)
        assert proc.stdout.strip() == ""


class TestErrorMapping:
    """A ProbeError becomes one line and its exit code; nothing else is swallowed."""

    def test_probe_error_is_one_line(self, capsys: pytest.CaptureFixture[str]) -> None:
        code = main(["evaluate", "--contract", "/nonexistent/c.toml",
                     "--measurements", "/nonexistent/m.jsonl"])
        err = capsys.readouterr().err
        assert code in (1, 2)
        assert err.startswith("probe: error: ")
        assert len(err.strip().splitlines()) == 1
