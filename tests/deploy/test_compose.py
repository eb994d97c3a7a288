"""There is no Docker engine on these machines: keep docker-compose.yml and the Dockerfiles honest by reading them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
BUILT = {name: spec for name, spec in SERVICES.items() if "build" in spec}
VARIABLE = re.compile(r"\$\{([A-Z0-9_]+)(?:[:?\-][^}]*)?\}")


def example_variables() -> set[str]:
    names = set()
    for line in (ROOT / ".env.example").read_text().splitlines():
        match = re.match(r"#?\s*([A-Z][A-Z0-9_]*)=", line)
        if match:
            names.add(match.group(1))
    return names


def test_the_stack_is_postgres_and_the_three_services() -> None:
    assert set(SERVICES) == {"postgres", "llm-proxy", "agent-runtime", "gateway"}
    assert SERVICES["postgres"]["image"].startswith("postgres:16")
    assert any(v.endswith(":/var/lib/postgresql/data") for v in SERVICES["postgres"]["volumes"])


@pytest.mark.parametrize("name", sorted(BUILT))
def test_each_build_context_and_dockerfile_exists(name: str) -> None:
    build = BUILT[name]["build"]
    context = ROOT / build["context"]
    assert context.is_dir()
    dockerfile = context / build["dockerfile"]
    assert dockerfile.is_file()
    text = dockerfile.read_text()
    for source in re.findall(r"^COPY (?!--from)(\S+)", text, flags=re.M):
        assert (context / source).exists(), f"{dockerfile} copies missing {source}"


@pytest.mark.parametrize("name", sorted(BUILT))
def test_each_dockerfile_is_multi_stage_non_root_and_without_reload(name: str) -> None:
    text = (ROOT / BUILT[name]["build"]["context"] / BUILT[name]["build"]["dockerfile"]).read_text()
    assert len(re.findall(r"^FROM ", text, flags=re.M)) >= 2
    users = re.findall(r"^USER (\S+)", text, flags=re.M)
    assert users
    assert users[-1] not in ("root", "0")
    assert "--reload" not in text
    assert "HEALTHCHECK" in text


def test_every_interpolated_variable_is_documented_in_env_example() -> None:
    used = set(VARIABLE.findall((ROOT / "docker-compose.yml").read_text()))
    assert used
    assert used - example_variables() == set()


def test_only_the_gateway_publishes_a_port() -> None:
    assert [name for name, spec in SERVICES.items() if spec.get("ports")] == ["gateway"]


def test_every_service_has_a_healthcheck_and_waits_for_healthy_dependencies() -> None:
    for name, spec in SERVICES.items():
        assert "healthcheck" in spec, name
        for dependency, condition in spec.get("depends_on", {}).items():
            assert dependency in SERVICES
            assert condition == {"condition": "service_healthy"}, name
    assert "postgres" in SERVICES["agent-runtime"]["depends_on"]
    assert SERVICES["agent-runtime"]["environment"]["AGENT_RUNTIME__DB_URL"].startswith("postgresql://")
