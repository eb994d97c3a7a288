"""A turn whose first step finds its session taken over by another replica (this one stalled past its lease) kept
nothing: it runs again once the session is free, and its request gets the whole answer once (issue 16, fencing)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import text

from agent_runtime.app import create_app
from tests.api.test_session_events_sse import serving, turn
from tests.conftest import make_settings
from tests.fake_llm import FakeLLM

pytestmark = pytest.mark.timeout(60)

_STEAL = text(
    "UPDATE session_leases SET owner = 'another-replica', expires_at = now() + interval '0.5 second'"
    " WHERE session_id = :session_id"
)


async def test_a_turn_whose_first_step_lost_the_lease_runs_again_and_answers_once(
    tmp_path: Path, postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(make_settings(tmp_path, postgres_url), llm=FakeLLM(["the ", "answer"]))
    async with serving(app) as http:
        await turn(http, "s1", "hello")
        lock = app.state.lock
        fence = lock.fence
        stolen: list[str] = []

        async def taken_over_before_the_first_commit(uow: Any, session_id: str) -> None:
            if not stolen:  # another replica takes the lease while this step runs
                stolen.append(session_id)
                async with app.state.engine.begin() as connection:
                    await connection.execute(_STEAL, {"session_id": session_id})
            await fence(uow, session_id)

        lock.fence = taken_over_before_the_first_commit
        with caplog.at_level(logging.WARNING, logger="agent_runtime.lease"):
            chunks = await _chunks(http, "again")
        history = (await http.get("/sessions/s1/history")).json()["messages"]
    assert stolen == ["s1"]
    assert "session_lease_lost" in caplog.messages
    assert [c["type"] for c in chunks].count("done") == 1
    assert chunks[-1]["stop_reason"] == "completed"
    assert [(m["role"], m["content"]) for m in history].count(("user", "again")) == 1
    assert history[-1]["content"] == "the answer"


async def _chunks(http: httpx.AsyncClient, content: str) -> list[dict[str, Any]]:
    body = {"session_id": "s1", "message": {"type": "user_message", "content": content}}
    response = await http.post("/agent/message/stream", json=body)
    return [orjson.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")]
