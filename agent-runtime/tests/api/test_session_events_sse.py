"""``GET /sessions/{id}/events`` on a real uvicorn server: replay after a seq, Last-Event-ID, then live."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import uvicorn

from agent_runtime.app import create_app
from tests.conftest import KEY, make_settings
from tests.fakes import FakeLLM


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_settings(tmp_path, heartbeat_interval=0.2), llm=FakeLLM(["a", "b"], delay=0.01))
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="on")
    instance = uvicorn.Server(config)
    task = asyncio.create_task(instance.serve())
    while not instance.started:
        await asyncio.sleep(0.01)
    port = instance.servers[0].sockets[0].getsockname()[1]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers={"X-Internal-Auth": KEY}) as http:
        yield http
    instance.should_exit = True
    await task


async def read_events(lines: AsyncIterator[str], count: int) -> tuple[list[tuple[int, dict[str, Any]]], int]:
    events: list[tuple[int, dict[str, Any]]] = []
    heartbeats = 0
    seq = None
    async for line in lines:
        if line.startswith(":"):
            heartbeats += 1
        elif line.startswith("id: "):
            seq = int(line[4:])
        elif line.startswith("data: "):
            assert seq is not None
            events.append((seq, orjson.loads(line[6:])))
            if len(events) == count:
                return events, heartbeats
    raise AssertionError("stream ended early")


async def turn(http: httpx.AsyncClient, session_id: str, content: str) -> list[int]:
    response = await http.post(
        "/agent/message/stream",
        json={"session_id": session_id, "message": {"type": "user_message", "content": content}},
    )
    return [int(line[4:]) for line in response.text.splitlines() if line.startswith("id: ")]


async def test_replay_after_a_seq_then_live_events_with_heartbeats(server: httpx.AsyncClient) -> None:
    first = await turn(server, "s1", "one")
    final_seq = first[-2]  # replay must start after the final message: only ``done`` remains of turn one
    async with server.stream("GET", "/sessions/s1/events", params={"after": final_seq}) as response:
        assert response.status_code == 200
        live = asyncio.create_task(turn(server, "s1", "two"))
        events, _ = await asyncio.wait_for(read_events(response.aiter_lines(), 5), 10)
        second = await live
    assert [c["type"] for _, c in events] == [
        "done",
        "assistant_message",
        "assistant_message",
        "assistant_message",
        "done",
    ]
    assert [seq for seq, _ in events] == [first[-1], *second]


async def test_last_event_id_resumes_and_idle_streams_get_heartbeats(server: httpx.AsyncClient) -> None:
    first = await turn(server, "s1", "one")
    async with server.stream("GET", "/sessions/s1/events", headers={"Last-Event-ID": "0"}) as response:
        lines = response.aiter_lines()
        replayed, _ = await asyncio.wait_for(read_events(lines, 2), 10)
        heartbeats = 0
        async for line in lines:
            if line.startswith(":"):
                heartbeats += 1
                break
    assert [seq for seq, _ in replayed] == first[-2:]
    assert heartbeats == 1


async def test_events_of_an_unknown_session_are_404(server: httpx.AsyncClient) -> None:
    assert (await server.get("/sessions/nope/events")).status_code == 404
    await turn(server, "s1", "x")
    assert (await server.get("/sessions/s1/events", headers={"Last-Event-ID": "abc"})).status_code == 422
