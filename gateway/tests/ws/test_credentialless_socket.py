"""The IDE's socket carries no credentials: where users have identities it may only attach to an existing session
that has an owner, acting as that owner; it can never create one (unless GATEWAY__WS_ANONYMOUS=true)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
import pytest
from fake_runtime import FakeRuntime
from test_auth_matrix import ALICE, BOB, alice_session, bearer, ws_outcome
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from conftest import RunningGateway, make_settings, serving


@pytest.fixture
async def token_gateway(runtime: FakeRuntime) -> AsyncIterator[RunningGateway]:
    async with serving(make_settings(runtime.url, auth_mode="token", auth_tokens=f"alice:{ALICE},bob:{BOB}")) as gw:
        yield gw


async def close_of(gateway: RunningGateway, path: str) -> tuple[int | None, str]:
    async with connect(gateway.ws(path)) as ws:
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 10)
        return ws.close_code, ws.close_reason or ""


async def test_it_attaches_to_an_owned_session_and_acts_as_its_owner(
    token_gateway: RunningGateway, runtime: FakeRuntime
) -> None:
    session_id = await alice_session(token_gateway)
    async with connect(token_gateway.ws(f"/api/v1/ws/{session_id}")) as ws:
        await ws.send('{"type":"user_message","content":"hi","role":"user"}')
        assert orjson.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "assistant_message"
    assert [r["subject"] for r in runtime.received] == ["alice"]


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/api/v1/ws/new_1700000000000", "a socket without credentials cannot create a session"),
        ("/ws/new_1700000000000?protocol=2", "a socket without credentials cannot create a session"),
        ("/api/v1/ws/sess-999", "no such session"),
        ("/api/v1/ws/demo", "no such session"),
    ],
)
async def test_it_cannot_create_a_session_or_find_an_unknown_one(
    token_gateway: RunningGateway, runtime: FakeRuntime, path: str, reason: str
) -> None:
    code, said = await close_of(token_gateway, path)
    assert code == 1008
    assert said.startswith(reason)
    assert runtime.received == []


async def test_an_unowned_session_has_no_owner_to_act_as(token_gateway: RunningGateway, runtime: FakeRuntime) -> None:
    unowned = runtime.create_session(None)
    assert await close_of(token_gateway, f"/api/v1/ws/{unowned.id}") == (1008, "no such session")


async def test_another_subjects_session_is_unknown_to_an_authenticated_socket(token_gateway: RunningGateway) -> None:
    session_id = await alice_session(token_gateway)
    async with connect(token_gateway.ws(f"/ws/{session_id}"), additional_headers=bearer(BOB)) as ws:
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 10)
    assert (ws.close_code, ws.close_reason) == (1008, "no such session")
    assert await ws_outcome(token_gateway, "/ws/unknown-id", additional_headers=bearer(BOB)) == 1008


async def test_a_runtime_that_is_down_refuses_with_try_again(runtime: FakeRuntime) -> None:
    settings = make_settings("http://127.0.0.1:9", auth_mode="token", auth_tokens=f"alice:{ALICE}")
    async with serving(settings) as gateway:
        code, reason = await close_of(gateway, "/api/v1/ws/sess-1")
    assert code == 1013
    assert "unavailable" in reason


async def test_with_ws_anonymous_it_keeps_the_older_rule(runtime: FakeRuntime) -> None:
    settings = make_settings(runtime.url, auth_mode="token", auth_tokens=f"alice:{ALICE}", ws_anonymous=True)
    async with serving(settings) as gateway:
        assert await ws_outcome(gateway, "/ws/new_1") == "open"
        async with connect(gateway.ws("/ws/new_2?protocol=2")) as ws:
            await ws.send('{"type":"user_message","content":"hi"}')
            while orjson.loads(await asyncio.wait_for(ws.recv(), 10))["type"] != "done":
                pass
    assert runtime.received[-1]["subject"] is None


async def test_in_development_mode_a_socket_without_credentials_is_anonymous(
    gateway: RunningGateway, runtime: FakeRuntime
) -> None:
    assert await ws_outcome(gateway, "/ws/new_1") == "open"
