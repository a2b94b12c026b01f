"""The layering, checked by machine on the source text (import-linter checks it too in CI).

The sans-I/O core (engine, compliance and the value modules) must not touch the network, the
event loop or the clock, and the adapters (client, server, store, sinks, hostfacts, alerts) must
not import each other: they meet only in the core's values and are wired together by the CLI and
the agent (probe.agent, a composition layer below the CLI whose policy modules are sans-I/O too).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "probe"
CORE = ("engine", "compliance", "evidence", "simulate", "report", "measurement.py",
        "recordparts.py", "recordjson.py", "wire.py", "units.py",
        "errors.py", "environment.py", "alert.py", "hostload.py", "readpolicy.py",
        "sendpolicy.py", "tcpinfo.py")
ADAPTERS = ("client", "server", "store", "sinks", "hostfacts", "alerts", "engines", "dataset",
            "scaleout", "fieldreport")
# Composition modules that sit above the adapters (no adapter may import them).
COMPOSITION = ("probe.cli", "probe.agent", "probe.backends")
# The agent's policy (schedule, campaign, agenda, clock decision, state, config and its values
# and table reader, gating, alert state) is held to the core's rule: time and randomness arrive
# as arguments, so a simulated month runs in seconds.
AGENT_POLICY = tuple(f"agent/{name}.py" for name in
                     ("schedule", "campaign", "agenda", "clock", "state", "config",
                      "configvalues", "tomltable", "gating", "alertstate"))
# The agent's modules that do I/O (the loop, its store thread, forwarding, waits, logs, alert
# delivery): no policy module may import them.
AGENT_IO = ("gatekeeper", "storethread", "forwarding", "waiting", "measuring", "keeping",
            "logjson", "alerting")
# No I/O, no event loop, no clock in the core: time arrives as data.
CORE_FORBIDDEN = {
    "asyncio", "aiohttp", "socket", "selectors", "ssl", "time", "sqlite3", "subprocess",
    "urllib", "http", "influxdb_client", "requests", "threading", "rich",
}


def _python_files(rel: str) -> list[Path]:
    path = PACKAGE / rel
    if path.is_file():
        return [path]
    return sorted(path.rglob("*.py")) if path.exists() else []


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _forbidden_calls(path: Path) -> list[str]:
    """datetime.now()/utcnow()/today() read the clock even without importing time."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in {"now", "utcnow", "today"}:
            bad.append(f"{path.name}:{node.lineno} .{node.attr}")
    return bad


CORE_FILES = [p for rel in CORE for p in _python_files(rel)]
POLICY_FILES = [p for rel in AGENT_POLICY for p in _python_files(rel)]
ADAPTER_FILES = [(a, p) for a in ADAPTERS for p in _python_files(a)]


class TestCoreIsSansIO:
    """The core imports nothing that does I/O or reads the clock."""

    @pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
    def test_no_io_imports(self, path: Path) -> None:
        roots = {name.split(".")[0] for name in _imports(path)}
        assert not roots & CORE_FORBIDDEN, f"{path} imports {sorted(roots & CORE_FORBIDDEN)}"

    @pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
    def test_no_clock_reads(self, path: Path) -> None:
        assert _forbidden_calls(path) == []

    @pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
    def test_core_imports_no_adapter_or_cli(self, path: Path) -> None:
        above = {f"probe.{a}" for a in ADAPTERS} | set(COMPOSITION)
        hits = {n for n in _imports(path) if any(n == a or n.startswith(a + ".") for a in above)}
        assert not hits, f"{path} imports {sorted(hits)}"


class TestAgentPolicyIsSansIO:
    """The agent's policy modules do no I/O, read no clock, and import no adapter."""

    def test_policy_modules_exist(self) -> None:
        assert len(POLICY_FILES) == len(AGENT_POLICY)

    @pytest.mark.parametrize("path", POLICY_FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
    def test_no_io_imports(self, path: Path) -> None:
        roots = {name.split(".")[0] for name in _imports(path)}
        assert not roots & (CORE_FORBIDDEN | {"ctypes", "prometheus_client", "random"}), path

    @pytest.mark.parametrize("path", POLICY_FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
    def test_no_clock_reads(self, path: Path) -> None:
        assert _forbidden_calls(path) == []

    @pytest.mark.parametrize("path", POLICY_FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
    def test_no_adapter_imports(self, path: Path) -> None:
        above = {f"probe.{a}" for a in (*ADAPTERS, "cli")} | {
            "probe.agent.daemon", "probe.agent.wiring", "probe.agent.metrics",
            *(f"probe.agent.{io}" for io in AGENT_IO)}
        hits = {n for n in _imports(path) if any(n == a or n.startswith(a + ".") for a in above)}
        assert not hits, f"{path} imports {sorted(hits)}"


class TestAgentIsBelowTheCli:
    """probe.agent composes adapters; it never reaches up into the CLI, and no adapter or
    core module reaches up into it."""

    @pytest.mark.parametrize("path", _python_files("agent"), ids=lambda p: p.name)
    def test_agent_imports_no_cli(self, path: Path) -> None:
        assert not {n for n in _imports(path) if n == "probe.cli" or n.startswith("probe.cli.")}

    @pytest.mark.parametrize("path", [*CORE_FILES, *(p for _, p in ADAPTER_FILES)],
                             ids=lambda p: p.name)
    def test_nothing_below_imports_the_agent(self, path: Path) -> None:
        assert not {n for n in _imports(path)
                    if n == "probe.agent" or n.startswith("probe.agent.")}


class TestAdaptersAreIndependent:
    """No adapter imports another adapter or the CLI."""

    @pytest.mark.parametrize(
        ("adapter", "path"), ADAPTER_FILES, ids=lambda v: v if isinstance(v, str) else v.name
    )
    def test_no_sibling_imports(self, adapter: str, path: Path) -> None:
        others = {f"probe.{a}" for a in ADAPTERS if a != adapter} | set(COMPOSITION)
        hits = {n for n in _imports(path) if any(n == o or n.startswith(o + ".") for o in others)}
        assert not hits, f"{path} imports {sorted(hits)}"


class TestNoGrabBagModules:
    """Modules are named for what they own."""

    def test_no_utils_or_helpers(self) -> None:
        bad = [p for p in PACKAGE.rglob("*.py") if p.stem in {"utils", "helpers", "misc", "common"}]
        assert bad == []
