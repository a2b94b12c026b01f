"""The Dockerfile and compose file, checked statically (no Docker engine runs here): the image is
multi-arch-buildable, runs as a non-root user, has a health check and `probe` as entrypoint; the
compose file wires agent + `probe serve` + InfluxDB + Grafana with deploy/grafana mounted."""

from __future__ import annotations

import json
import re
import tomllib

import pytest

from probe.agent.config import parse_config
from tests.support import ROOT

DOCKER = ROOT / "deploy" / "docker"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", "\n".join(
        line for line in text.splitlines() if not line.lstrip().startswith("#")))
    out = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return instructions((DOCKER / "Dockerfile").read_text())


def last_stage(steps: list[tuple[str, str]]) -> list[tuple[str, str]]:
    start = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    return steps[start:]


class TestDockerfile:
    def test_base_is_a_pinned_multi_arch_python(self, dockerfile: list[tuple[str, str]]) -> None:
        args = dict(a.split("=", 1) for w, a in dockerfile if w == "ARG" and "=" in a)
        # python:3.11-slim-bookworm is published for amd64, arm64 and arm/v7 (among others).
        assert args["PYTHON_IMAGE"] == "python:3.11-slim-bookworm"
        froms = [a for w, a in dockerfile if w == "FROM"]
        assert froms == ["${PYTHON_IMAGE} AS build", "${PYTHON_IMAGE}"]
        # No --platform=$BUILDPLATFORM: wheels must be built for the target architecture.
        assert not any("--platform" in f for f in froms)

    def test_final_stage_runs_unprivileged(self, dockerfile: list[tuple[str, str]]) -> None:
        final = last_stage(dockerfile)
        users = [a for w, a in final if w == "USER"]
        assert users == ["10001:10001"]
        # The user is created before USER switches to it, and owns the state volume.
        run = " ".join(a for w, a in final if w == "RUN")
        assert "useradd --system --uid 10001" in run
        assert "install -d -o probe -g probe -m 0750 /var/lib/broadband-probe" in run
        assert ("VOLUME", '["/var/lib/broadband-probe"]') in final
        assert "build-essential" not in run  # compilers stay in the build stage

    def test_entrypoint_and_default_command(self, dockerfile: list[tuple[str, str]]) -> None:
        final = last_stage(dockerfile)
        assert [json.loads(a) for w, a in final if w == "ENTRYPOINT"] == [["probe"]]
        assert [json.loads(a) for w, a in final if w == "CMD"] == [
            ["agent", "--config", "/etc/broadband-probe/agent.toml"]]

    def test_healthcheck_probes_a_real_endpoint(self, dockerfile: list[tuple[str, str]]) -> None:
        final = last_stage(dockerfile)
        [check] = [a for w, a in final if w == "HEALTHCHECK"]
        assert "--interval=60s" in check
        argv = json.loads(check[check.index("CMD") + 3:].strip())
        assert argv[:2] == ["python", "-c"]
        compile(argv[2], "healthcheck", "exec")  # the one-liner is valid Python
        env = " ".join(a for w, a in final if w == "ENV")
        assert "PROBE_HEALTH_URL=http://127.0.0.1:9181/metrics" in env
        assert "PROBE_STATE_DIR=/var/lib/broadband-probe" in env

    def test_copies_only_what_exists(self, dockerfile: list[tuple[str, str]]) -> None:
        for word, args in dockerfile:
            if word == "COPY" and not args.startswith("--from"):
                *sources, _dest = args.split()
                for src in sources:
                    assert (ROOT / src).exists(), src

    def test_extras_exist_in_pyproject(self, dockerfile: list[tuple[str, str]]) -> None:
        extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
            "optional-dependencies"]
        args = [a for w, a in dockerfile if w == "ARG" and a.startswith("EXTRAS=")]
        for arg in args:
            for extra in arg.split("=", 1)[1].split(","):
                assert extra in extras, extra


@pytest.fixture(scope="module")
def compose() -> dict[str, object]:
    yaml = pytest.importorskip("yaml")
    return dict(yaml.safe_load((DOCKER / "compose.yaml").read_text()))


class TestCompose:
    def test_services(self, compose: dict[str, object]) -> None:
        services = compose["services"]
        assert isinstance(services, dict)
        assert set(services) == {"agent", "serve", "influxdb", "grafana"}
        assert services["agent"]["command"][0] == "agent"
        assert services["serve"]["command"][:1] == ["serve"]
        assert services["serve"]["environment"]["PROBE_HEALTH_URL"].endswith("/healthz")
        # The gate must see the host's WAN interface.
        assert services["agent"]["network_mode"] == "host"
        for name in ("agent", "serve"):
            assert services[name]["cap_drop"] == ["ALL"]
            assert services[name]["read_only"] is True

    def test_mounts_exist(self, compose: dict[str, object]) -> None:
        services = compose["services"]
        assert isinstance(services, dict)
        for service in services.values():
            for volume in service.get("volumes", []):
                source = volume.split(":")[0]
                if source.startswith("."):
                    assert (DOCKER / source).resolve().exists(), source
        grafana = services["grafana"]["volumes"]
        assert "../grafana/provisioning:/etc/grafana/provisioning:ro" in grafana

    def test_build_context_is_the_repository(self, compose: dict[str, object]) -> None:
        build = compose["services"]["agent"]["build"]  # type: ignore[index]
        assert (DOCKER / build["context"]).resolve() == ROOT
        assert (ROOT / build["dockerfile"]).exists()

    def test_agent_config_validates(self) -> None:
        path = DOCKER / "agent.toml"
        config = parse_config(tomllib.loads(path.read_text()))
        assert not isinstance(config, list), config
        assert config.sink is not None
        assert config.sink.kind == "influxdb1"
        # The contract path is relative to the config inside the container, where the
        # repository's contracts/ is mounted beside it.
        assert (ROOT / config.contract_file).exists()
