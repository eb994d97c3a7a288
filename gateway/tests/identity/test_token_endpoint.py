"""``/oauth/token`` and the JWKS over the real server, in mode ``none`` (any username logs in)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import jwt
import pytest
from fake_runtime import FakeRuntime

from conftest import RunningGateway, make_settings, serving

CLIENT = "codelab-flutter-app"


@pytest.fixture
async def dev_gateway(runtime: FakeRuntime) -> AsyncIterator[RunningGateway]:
    async with serving(make_settings(runtime.url)) as running:
        yield running


async def login(http: httpx.AsyncClient, username: str = "alice", **extra: str) -> httpx.Response:
    form = {"grant_type": "password", "username": username, "password": "anything", "client_id": CLIENT, **extra}
    return await http.post("/oauth/token", data=form)


async def test_the_ides_login_form_gets_every_field_it_parses(dev_gateway: RunningGateway) -> None:
    async with dev_gateway.client() as http:
        answer = await login(http, scope="openid")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert isinstance(body["access_token"], str)
    assert isinstance(body["refresh_token"], str)
    assert body["token_type"] == "Bearer"
    assert isinstance(body["expires_in"], int)
    assert body["expires_in"] > 300
    issued = datetime.fromisoformat(body["issued_at"].replace("Z", "+00:00"))
    assert abs((datetime.now(UTC) - issued).total_seconds()) < 10
    assert body["scope"] == "openid"


async def test_the_username_is_the_subject_and_rest_without_a_token_stays_anonymous(
    dev_gateway: RunningGateway, runtime: FakeRuntime
) -> None:
    async with dev_gateway.client() as http:
        token = (await login(http, "用户")).json()["access_token"]
        await http.post("/api/v1/sessions", headers={"Authorization": f"Bearer {token}"})
        await http.get("/api/v1/sessions")
        bad = await http.get("/api/v1/sessions", headers={"Authorization": "Bearer not-a-token"})
    assert [f["subject"] for f in runtime.forwarded] == ["用户", None]
    assert bad.status_code == 401  # a presented token that is not valid: the IDE refreshes or logs in again
    assert bad.headers["www-authenticate"] == "Bearer"


async def test_a_refresh_rotates_and_a_reused_refresh_token_is_refused(dev_gateway: RunningGateway) -> None:
    async with dev_gateway.client() as http:
        first = (await login(http)).json()
        form = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"], "client_id": CLIENT}
        second = await http.post("/oauth/token", data=form)
        again = await http.post("/oauth/token", data=form)
        after = await http.get("/api/v1/sessions", headers={"Authorization": f"Bearer {second.json()['access_token']}"})
    assert second.status_code == 200
    assert second.json()["refresh_token"] != first["refresh_token"]
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"
    assert after.status_code == 401  # the reuse revoked the whole login


@pytest.mark.parametrize(
    ("request_kwargs", "status", "error"),
    [
        ({"json": {"grant_type": "password", "username": "a", "password": "b"}}, 400, "invalid_request"),
        ({"data": {"username": "a", "password": "b"}}, 400, "invalid_request"),
        ({"data": {"grant_type": "client_credentials"}}, 400, "unsupported_grant_type"),
        ({"data": {"grant_type": "password", "password": "b"}}, 400, "invalid_request"),
        ({"data": {"grant_type": "password", "username": "a"}}, 400, "invalid_request"),
        ({"data": {"grant_type": "refresh_token"}}, 400, "invalid_request"),
        ({"data": {"grant_type": "password", "username": " ", "password": "b"}}, 400, "invalid_grant"),
        (
            {
                "content": b"grant_type=password&grant_type=refresh_token",
                "headers": {"content-type": "application/x-www-form-urlencoded"},
            },
            400,
            "invalid_request",
        ),
        (
            {"content": b"\xff\xfe=1", "headers": {"content-type": "application/x-www-form-urlencoded"}},
            400,
            "invalid_request",
        ),
        ({"data": {"grant_type": "password", "username": "a", "password": "p" * 20_000}}, 413, "invalid_request"),
    ],
)
async def test_bad_requests_get_oauth_errors(
    dev_gateway: RunningGateway, request_kwargs: dict[str, object], status: int, error: str
) -> None:
    async with dev_gateway.client() as http:
        answer = await http.post("/oauth/token", **request_kwargs)  # type: ignore[arg-type]
    assert answer.status_code == status
    body = answer.json()
    assert body["error"] == error
    assert isinstance(body["error_description"], str)
    assert body["error_description"]


async def test_the_jwks_verifies_the_issued_tokens(dev_gateway: RunningGateway) -> None:
    async with dev_gateway.client() as http:
        token = (await login(http)).json()["access_token"]
        keys = (await http.get("/.well-known/jwks.json")).json()
    key = jwt.PyJWKSet.from_dict(keys)[jwt.get_unverified_header(token)["kid"]]
    claims = jwt.decode(token, key.key, algorithms=["ES256"], audience="codelab", issuer="codelab-gateway")
    assert claims["sub"] == "alice"


async def test_a_gateway_that_issues_no_tokens_has_no_token_endpoint(runtime: FakeRuntime) -> None:
    settings = make_settings(runtime.url, auth_mode="token", auth_tokens="alice:tok-alice-0123456789")
    async with serving(settings) as gateway, gateway.client() as http:
        assert (await http.post("/oauth/token", data={"grant_type": "password"})).status_code == 404
        assert (await http.get("/.well-known/jwks.json")).status_code == 404
