"""Internal auth on every protected route, configuration errors that name the variable, and no leaked key."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

import httpx
import pytest
import websockets

from tests.e2e.conftest import PLANTED_KEY
from tests.e2e.ide import CLIENT_ID
from tests.e2e.system import System

PROTECTED = [
    ("llm-proxy", "POST", "/v1/chat/completions"),
    ("llm-proxy", "GET", "/v1/models"),
    ("llm-proxy", "GET", "/v1/llm/models"),
    ("llm-proxy", "GET", "/metrics"),
    ("agent-runtime", "POST", "/agent/message/stream"),
    ("agent-runtime", "GET", "/metrics"),
    ("gateway", "GET", "/metrics"),
]


@pytest.mark.parametrize(("service", "method", "path"), PROTECTED)
@pytest.mark.parametrize("headers", [{}, {"X-Internal-Auth": "wrong-key-0123456789"}, {"Authorization": "Bearer x"}])
async def test_protected_route_refuses_a_request_without_the_right_key(
    system: System, service: str, method: str, path: str, headers: dict[str, str]
) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.request(method, system.services[service].url + path, headers=headers, json={})
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"


@pytest.mark.parametrize("service", ["llm-proxy", "agent-runtime", "gateway"])
async def test_health_is_public_and_names_the_service(system: System, service: str) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(system.services[service].url + "/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "service": service, "version": "0.1.0"}


@pytest.mark.parametrize("service", ["llm-proxy", "agent-runtime", "gateway"])
async def test_metrics_are_prometheus_text_with_the_key(system: System, service: str) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(system.services[service].url + "/metrics", headers={"X-Internal-Auth": system.key})
    assert response.status_code == 200
    assert "# TYPE process_cpu_seconds_total counter" in response.text


async def test_gateway_also_answers_health_under_api_v1(system: System) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(system.gateway.url + "/api/v1/health")
    assert response.json()["service"] == "gateway"


async def test_the_planted_key_never_reaches_any_log(system: System) -> None:
    # Give the key every chance to leak: in headers at DEBUG, in a WebSocket query string, in a bad request.
    async with httpx.AsyncClient(timeout=10) as client:
        # The three services (system.services also holds the extra processes other tests started and stopped).
        for service in (system.gateway, system.runtime, system.proxy):
            await client.get(service.url + "/metrics", headers={"X-Internal-Auth": PLANTED_KEY})
            await client.get(service.url + "/metrics", headers={"Authorization": f"Bearer {PLANTED_KEY}"})
            await client.post(service.url + "/nope", headers={"X-Internal-Auth": PLANTED_KEY + "x"})
    async with websockets.connect(system.ws_url("leak-check", f"?token={PLANTED_KEY}")) as ws:
        await ws.send('{"type": "user_message", "content": "hi"}')
        await ws.recv()
    identity = await planted_login_secrets(system)
    logs = system.logs()
    assert "request" in logs  # the services did log those requests
    assert PLANTED_KEY not in logs
    for secret in identity:
        assert secret not in logs


async def planted_login_secrets(system: System) -> list[str]:
    """Log in (mode none takes any password) with a planted password, refresh, reuse a refresh token and use the
    tokens on REST and the socket; returns every secret that went by: the password, the tokens, the signing key."""
    password = "planted-password-" + secrets.token_hex(8)
    form = {
        "grant_type": "password",
        "username": "leak-check",
        "password": password,
        "client_id": "codelab-flutter-app",
    }
    async with httpx.AsyncClient(base_url=system.gateway.url, timeout=10) as client:
        first = (await client.post("/oauth/token", data=form)).json()
        renew = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"], "client_id": "x"}
        await client.post("/oauth/token", data={**renew, "client_id": CLIENT_ID})
        await client.post("/oauth/token", data=renew)  # a reuse (and another client): refused
        await client.get("/api/v1/sessions", headers={"Authorization": f"Bearer {first['access_token']}"})
    async with websockets.connect(system.ws_url("new_1", f"?access_token={first['access_token']}")) as ws:
        await ws.send('{"type": "ping"}')
        await ws.recv()
    key = (system.workdir / "gateway-signing-key.pem").read_text()
    body = "".join(line for line in key.splitlines() if "-----" not in line)
    return [password, first["refresh_token"], first["access_token"], body[:40], body[40:80], body[-40:]]


@pytest.mark.parametrize(
    ("module", "env", "variable"),
    [
        ("gateway", {"GATEWAY__INTERNAL_API_KEY": "k" * 20, "GATEWAY__PORT": "eighty"}, "GATEWAY__PORT"),
        ("agent_runtime", {}, "AGENT_RUNTIME__INTERNAL_API_KEY"),
        ("llm_proxy", {"LLM_PROXY__INTERNAL_API_KEY": "short"}, "LLM_PROXY__INTERNAL_API_KEY"),
        ("llm_proxy", {"LLM_PROXY__INTERNAL_API_KEY": "k" * 20, "LLM_PROXY__LOG_LEVEL": "X"}, "LLM_PROXY__LOG_LEVEL"),
    ],
)
def test_an_invalid_setting_stops_the_process_naming_the_variable(
    module: str, env: dict[str, str], variable: str, tmp_path: object
) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY__", "AGENT_RUNTIME__", "LLM_PROXY__"))}
    result = subprocess.run(
        [sys.executable, "-m", module], env={**clean, **env}, capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert result.returncode != 0
    assert variable in result.stderr
    assert "Traceback" not in result.stderr
    if "short" in env.values():
        assert "short" not in result.stderr
