"""``GET /sessions/{id}/events`` on a real uvicorn server: replay after a seq, Last-Event-ID, then live."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import uvicorn

from agent_runtime.app import create_app
from tests.conftest import KEY, make_settings
from tests.fake_llm import FakeLLM


class GatedLLM(FakeLLM):
    """Streams its tokens but holds after the first ``hold_after`` until ``gate`` is set: a turn caught mid-way."""

    def __init__(self, tokens: list[str], hold_after: int) -> None:
        super().__init__(tokens)
        self.hold_after = hold_after
        self.gate = asyncio.Event()

    async def stream_chat(self, **request: Any) -> AsyncIterator[dict[str, Any]]:
        for index, token in enumerate(self.reply or ()):
            if index == self.hold_after:
                await self.gate.wait()
            yield {"choices": [{"index": 0, "delta": {"content": token}}]}
        count = len(self.reply or ())
        usage = {"prompt_tokens": 3, "completion_tokens": count, "total_tokens": 3 + count}
        yield {"choices": [], "usage": usage}


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_settings(tmp_path, heartbeat_interval=0.2), llm=FakeLLM(["a", "b"], delay=0.01))
    async with serving(app) as http:
        yield http


@asynccontextmanager
async def serving(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The app on a real uvicorn server (port 0), reached over HTTP with the internal key."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="on")
    instance = uvicorn.Server(config)
    task = asyncio.create_task(instance.serve())
    while not instance.started:
        if task.done():  # it could not start: its error (or this one), not a wait until the test's timeout
            task.result()
            raise RuntimeError("the server ended before it started")
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


async def test_a_reader_resuming_mid_turn_gets_the_deltas_after_its_seq_then_the_rest_live(tmp_path: Path) -> None:
    tokens = [f"t{i} " for i in range(8)]
    llm = GatedLLM(tokens, hold_after=4)
    app = create_app(make_settings(tmp_path, heartbeat_interval=0.2), llm=llm)
    body = {"session_id": "s1", "message": {"type": "user_message", "content": "go"}}
    async with serving(app) as http, http.stream("POST", "/agent/message/stream", json=body) as post:
        posted = post.aiter_lines()
        sent, _ = await asyncio.wait_for(read_events(posted, 4), 10)  # four deltas out, the turn holds
        cursor = sent[1][0]
        async with http.stream("GET", "/sessions/s1/events", params={"after": cursor}) as response:
            lines = response.aiter_lines()
            kept, _ = await asyncio.wait_for(read_events(lines, 2), 10)  # from the running turn's memory
            llm.gate.set()
            rest, _ = await asyncio.wait_for(read_events(lines, len(tokens) - 4 + 2), 10)
        answered, _ = await asyncio.wait_for(read_events(posted, len(tokens) - 4 + 2), 10)
    resumed = kept + rest
    assert [c.get("token") for _, c in resumed[:-2]] == tokens[2:]
    assert [c["type"] for _, c in resumed[-2:]] == ["assistant_message", "done"]
    assert resumed[-2][1]["content"] == "".join(tokens)
    assert [seq for seq, _ in resumed] == [seq for seq, _ in sent[2:] + answered]
