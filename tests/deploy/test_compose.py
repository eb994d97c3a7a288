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


RUNTIMES = ("agent-runtime-1", "agent-runtime-2")
GATEWAYS = ("gateway-1", "gateway-2")
NGINX = (ROOT / "deploy" / "nginx.conf").read_text()


def test_the_stack_is_postgres_redis_the_services_two_runtimes_two_gateways_and_a_load_balancer() -> None:
    assert set(SERVICES) == {"postgres", "redis", "llm-proxy", *RUNTIMES, *GATEWAYS, "lb"}
    assert SERVICES["postgres"]["image"].startswith("postgres:16")
    assert any(v.endswith(":/var/lib/postgresql/data") for v in SERVICES["postgres"]["volumes"])
    assert SERVICES["redis"]["image"].startswith("redis:")


def test_the_replicas_share_their_state() -> None:
    """Runtimes: one database (ADR 8). Gateways: one token store and one identity volume (ADR 7). Proxy: Redis."""
    assert len({SERVICES[r]["environment"]["AGENT_RUNTIME__DB_URL"] for r in RUNTIMES}) == 1
    one, two = ({k: v for k, v in SERVICES[r].items() if k != "environment"} for r in RUNTIMES)
    assert one == two
    environments = [dict(SERVICES[r]["environment"]) for r in RUNTIMES]
    assert [e.pop("AGENT_RUNTIME__REPLICA_ID") for e in environments] == list(RUNTIMES)  # unique, stable
    assert environments[0] == environments[1]
    assert SERVICES[GATEWAYS[0]] == SERVICES[GATEWAYS[1]]
    gateway = SERVICES[GATEWAYS[0]]
    assert "redis://redis:6379" in gateway["environment"]["GATEWAY__TOKEN_STORE_URL"]
    assert "gateway-identity:/var/lib/codelab" in gateway["volumes"]
    assert SERVICES["llm-proxy"]["environment"]["LLM_PROXY__REDIS_URL"].startswith("redis://redis:6379")


def test_the_load_balancer_spreads_clients_over_the_gateways_and_frames_over_the_runtimes() -> None:
    lb = SERVICES["lb"]
    assert lb["image"].startswith("nginx:")
    assert "./deploy/nginx.conf:/etc/nginx/nginx.conf:ro" in lb["volumes"]
    upstreams = dict(re.findall(r"upstream (\w+) \{(.*?)\}", NGINX, flags=re.S))
    assert re.findall(r"server ([\w-]+):8000", upstreams["gateways"]) == list(GATEWAYS)
    assert re.findall(r"server ([\w-]+):8001", upstreams["runtimes"]) == list(RUNTIMES)
    for gateway in GATEWAYS:
        assert SERVICES[gateway]["environment"]["GATEWAY__AGENT_URL"].startswith("http://lb:8001")
    assert re.search(r"listen 8000;.*?proxy_pass http://gateways;", NGINX, flags=re.S)
    assert re.search(r"listen 8001;.*?proxy_pass http://runtimes;", NGINX, flags=re.S)


def test_the_load_balancer_passes_websockets_and_streams_unbuffered() -> None:
    assert "proxy_set_header Upgrade $http_upgrade;" in NGINX
    assert "proxy_set_header Connection $connection_upgrade;" in NGINX
    assert re.search(r"map \$http_upgrade \$connection_upgrade \{\s*default upgrade;", NGINX)
    assert NGINX.count("proxy_http_version 1.1;") == 2
    assert NGINX.count("proxy_buffering off;") == 2  # tokens leave as they come: SSE and the socket
    assert all(int(t) >= 1 for t in re.findall(r"proxy_read_timeout (\d+)h;", NGINX))
    assert "non_idempotent" not in NGINX  # a frame a runtime received is never sent to the other one too


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


def test_only_the_load_balancer_publishes_a_port() -> None:
    assert [name for name, spec in SERVICES.items() if spec.get("ports")] == ["lb"]


def test_every_service_has_a_healthcheck_and_waits_for_healthy_dependencies() -> None:
    for name, spec in SERVICES.items():
        assert "healthcheck" in spec, name
        for dependency, condition in spec.get("depends_on", {}).items():
            assert dependency in SERVICES
            assert condition == {"condition": "service_healthy"}, name
    for runtime in RUNTIMES:
        assert "postgres" in SERVICES[runtime]["depends_on"]
        assert SERVICES[runtime]["environment"]["AGENT_RUNTIME__DB_URL"].startswith("postgresql://")
    assert set(SERVICES["lb"]["depends_on"]) == set(GATEWAYS)
