"""The auth matrix over the real server: every way in, each with its expected status or close code."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from fake_issuer import AUDIENCE, ISSUER, Issuer
from fake_runtime import FakeRuntime
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from conftest import RunningGateway, make_settings, serving

ALICE, BOB = "tok-alice-0123456789", "tok-bob-9876543210"
ORIGIN = "https://ide.codelab.test"


@pytest.fixture
async def token_gateway(runtime: FakeRuntime) -> AsyncIterator[RunningGateway]:
    settings = make_settings(
        runtime.url, auth_mode="token", auth_tokens=f"alice:{ALICE},bob:{BOB}", ws_allowed_origins=ORIGIN
    )
    async with serving(settings) as running:
        yield running


async def outcome(ws: ClientConnection) -> int | str:
    """ "open" if the socket answers a ping, else the close code the gateway sent."""
    try:
        await ws.send('{"type":"ping"}')
        frame = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
    except ConnectionClosed:
        return ws.close_code or 1006
    assert frame == {"type": "pong"}
    return "open"


async def ws_outcome(gateway: RunningGateway, path: str, **kwargs: Any) -> int | str:
    async with connect(gateway.ws(path), **kwargs) as ws:
        result = await outcome(ws)
        with contextlib.suppress(ConnectionClosed):
            await ws.close()
        return result


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def alice_session(gateway: RunningGateway) -> str:
    async with gateway.client(headers=bearer(ALICE)) as http:
        return str((await http.post("/api/v1/sessions")).json()["id"])


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, 1008),
        ({"additional_headers": bearer("wrong-token-000000")}, 1008),
        ({"additional_headers": bearer(ALICE)}, "open"),
        ({"subprotocols": ["bearer", ALICE]}, "open"),
        ({"subprotocols": [f"bearer.{ALICE}"]}, "open"),
        ({"subprotocols": ["bearer", "wrong-token-000000"]}, 1008),
        ({"additional_headers": bearer(ALICE), "origin": "https://evil.test"}, 1008),
        ({"additional_headers": bearer(ALICE), "origin": ORIGIN}, "open"),
    ],
)
async def test_websocket_admission_in_token_mode(
    token_gateway: RunningGateway, kwargs: dict[str, Any], expected: int | str
) -> None:
    assert await ws_outcome(token_gateway, "/api/v1/ws/new_1", **kwargs) == expected


async def test_a_query_token_is_refused_unless_enabled(token_gateway: RunningGateway, runtime: FakeRuntime) -> None:
    assert await ws_outcome(token_gateway, f"/ws/new_1?access_token={ALICE}") == 1008
    settings = make_settings(runtime.url, auth_mode="token", auth_tokens=f"alice:{ALICE}", ws_query_token=True)
    async with serving(settings) as gateway:
        assert await ws_outcome(gateway, f"/ws/new_1?access_token={ALICE}") == "open"
        assert await ws_outcome(gateway, "/ws/new_1?access_token=nope") == 1008


async def test_the_accepted_subprotocol_is_bearer_never_the_token(token_gateway: RunningGateway) -> None:
    async with connect(token_gateway.ws("/ws/new_1"), subprotocols=[Subprotocol("bearer"), Subprotocol(ALICE)]) as ws:
        assert ws.subprotocol == "bearer"


async def test_another_subjects_session_closes_the_socket_with_1008(
    token_gateway: RunningGateway, runtime: FakeRuntime
) -> None:
    session_id = await alice_session(token_gateway)
    assert await ws_outcome(token_gateway, f"/ws/{session_id}", additional_headers=bearer(ALICE)) == "open"
    assert await ws_outcome(token_gateway, f"/ws/{session_id}", additional_headers=bearer(BOB)) == 1008
    assert await ws_outcome(token_gateway, f"/ws/{session_id}?protocol=2", additional_headers=bearer(BOB)) == 1008


async def test_the_subject_reaches_the_runtime_with_each_frame(
    token_gateway: RunningGateway, runtime: FakeRuntime
) -> None:
    async with connect(token_gateway.ws("/ws/new_1?protocol=2"), additional_headers=bearer(BOB)) as ws:
        await ws.send('{"type":"user_message","content":"hi"}')
        while orjson.loads(await asyncio.wait_for(ws.recv(), 10))["type"] != "done":
            pass
    assert runtime.received[0]["subject"] == "bob"
    assert next(iter(runtime.sessions.values())).owner == "bob"


async def test_rest_requires_a_valid_token_and_keeps_sessions_per_subject(token_gateway: RunningGateway) -> None:
    session_id = await alice_session(token_gateway)
    async with token_gateway.client() as http:
        missing = await http.get("/api/v1/sessions")
        wrong = await http.get("/api/v1/sessions", headers=bearer("wrong-token-000000"))
        as_alice = await http.get(f"/api/v1/sessions/{session_id}", headers=bearer(ALICE))
        as_bob = await http.get(f"/api/v1/sessions/{session_id}", headers=bearer(BOB))
        bob_list = await http.get("/api/v1/sessions", headers=bearer(BOB))
        health = await http.get("/health")
    assert missing.status_code == wrong.status_code == 401
    assert missing.json()["error"]["code"] == "unauthorized"
    assert missing.headers["www-authenticate"] == "Bearer"
    assert as_alice.status_code == 200
    assert as_bob.status_code == 404  # another subject's session is indistinguishable from a missing one
    assert as_bob.json()["error"]["code"] == "not_found"
    assert bob_list.json()["sessions"] == []
    assert health.status_code == 200


async def test_no_credential_ever_appears_in_an_answer(token_gateway: RunningGateway) -> None:
    async with token_gateway.client() as http:
        answer = await http.get("/api/v1/sessions", headers=bearer("wrong-token-000000"))
    assert "wrong-token" not in answer.text


@pytest.fixture
async def jwt_gateway(runtime: FakeRuntime, issuer: Issuer) -> AsyncIterator[RunningGateway]:
    settings = make_settings(
        runtime.url, auth_mode="jwt", jwt_jwks_url=issuer.url, jwt_issuer=ISSUER, jwt_audience=AUDIENCE
    )
    async with serving(settings) as running:
        yield running


async def test_jwt_mode_admits_valid_tokens_and_refuses_bad_ones(
    jwt_gateway: RunningGateway, runtime: FakeRuntime, issuer: Issuer
) -> None:
    good = issuer.token("ec-1", sub="carol")
    expired = issuer.token("rsa-1", exp=1)
    foreign = issuer.token("rsa-1", aud="someone-else")
    assert await ws_outcome(jwt_gateway, "/ws/new_1", additional_headers=bearer(good)) == "open"
    assert await ws_outcome(jwt_gateway, "/ws/new_1", subprotocols=["bearer", good]) == "open"
    assert await ws_outcome(jwt_gateway, "/ws/new_1", additional_headers=bearer(expired)) == 1008
    assert await ws_outcome(jwt_gateway, "/ws/new_1") == 1008
    async with jwt_gateway.client() as http:
        ok = await http.post("/api/v1/sessions", headers=bearer(issuer.token("rsa-1", sub="carol")))
        refused = await http.get("/api/v1/sessions", headers=bearer(foreign))
        stale = await http.get("/api/v1/sessions", headers=bearer(expired))
    assert ok.status_code == 200
    assert runtime.sessions[ok.json()["id"]].owner == "carol"
    assert refused.status_code == 401
    assert stale.json()["error"]["message"] == "token expired"


async def test_anonymous_websockets_are_let_in_only_when_configured(
    runtime: FakeRuntime,
) -> None:
    settings = make_settings(runtime.url, auth_mode="token", auth_tokens=f"alice:{ALICE}", ws_anonymous=True)
    async with serving(settings) as gateway:
        assert await ws_outcome(gateway, "/ws/new_1") == "open"
        # A presented credential is still checked.
        assert await ws_outcome(gateway, "/ws/new_1", additional_headers=bearer("wrong-token-000000")) == 1008


@pytest.mark.parametrize("blank", ["", " ", "\t", " \t "])
async def test_a_blank_subject_is_refused_on_rest_and_on_the_socket(
    jwt_gateway: RunningGateway, runtime: FakeRuntime, issuer: Issuer, blank: str
) -> None:
    """A blank ``sub`` once switched off every ownership check: it is no subject at all."""
    token = issuer.token("ec-1", sub=blank)
    async with jwt_gateway.client(headers=bearer(token)) as http:
        listed = await http.get("/api/v1/sessions")
        created = await http.post("/api/v1/sessions")
    assert (listed.status_code, created.status_code) == (401, 401)
    assert listed.json()["error"]["type"] == "authentication_error"
    assert await ws_outcome(jwt_gateway, "/ws/new_1", additional_headers=bearer(token)) == 1008
    assert runtime.sessions == {}


@pytest.mark.parametrize("subject", ["用户", "a" * 300, "ü" * 255, "alice@example.com"])
async def test_every_valid_subject_works_on_rest_and_on_the_socket(
    jwt_gateway: RunningGateway, runtime: FakeRuntime, issuer: Issuer, subject: str
) -> None:
    token = issuer.token("ec-1", sub=subject)
    async with jwt_gateway.client(headers=bearer(token)) as http:
        session_id = (await http.post("/api/v1/sessions")).json()["id"]
        listed = (await http.get("/api/v1/sessions")).json()["sessions"]
    assert runtime.sessions[session_id].owner == subject
    assert [s["id"] for s in listed] == [session_id]
    async with connect(jwt_gateway.ws(f"/ws/{session_id}?protocol=2"), additional_headers=bearer(token)) as ws:
        await ws.send('{"type":"user_message","content":"hi"}')
        while orjson.loads(await asyncio.wait_for(ws.recv(), 10))["type"] != "done":
            pass
    assert runtime.received[-1]["subject"] == subject
