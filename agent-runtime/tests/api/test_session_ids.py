"""A session id's format is one rule (``domain.session``): creating a session over REST, naming one in a v2 frame
and naming one in a path accept and refuse the same ids."""

from __future__ import annotations

import httpx
import pytest

from agent_runtime.domain.session import SESSION_ID_LENGTH, is_session_id

FRAME = {"type": "user_message", "content": "hi", "role": "user", "call_id": None, "metadata": None}
LONGEST = "a" * SESSION_ID_LENGTH


@pytest.mark.parametrize("session_id", ["s", "a.b:c-d_E9", LONGEST])
async def test_a_well_formed_id_is_accepted_by_rest_and_by_frames(client: httpx.AsyncClient, session_id: str) -> None:
    assert is_session_id(session_id)
    created = await client.post("/sessions", json={"id": session_id})
    assert created.status_code == 201, created.text
    streamed = await client.post("/agent/message/stream", json={"session_id": session_id, "message": FRAME})
    assert streamed.status_code == 200, streamed.text
    assert (await client.get(f"/sessions/{session_id}")).status_code == 200


@pytest.mark.parametrize("session_id", ["", LONGEST + "a", "a b", "ä", "a/b", "a\n"])
async def test_a_malformed_id_is_refused_by_rest_and_by_frames(client: httpx.AsyncClient, session_id: str) -> None:
    assert not is_session_id(session_id)
    created = await client.post("/sessions", json={"id": session_id})
    assert created.status_code == 400, created.text
    assert created.json()["error"]["param"] == "id"
    streamed = await client.post("/agent/message/stream", json={"session_id": session_id, "message": FRAME})
    assert streamed.status_code == 400, streamed.text
    assert streamed.json()["error"]["param"] == "session_id"


async def test_a_path_id_longer_than_any_session_is_404(client: httpx.AsyncClient) -> None:
    assert (await client.get(f"/sessions/{LONGEST}a")).status_code == 404
