"""The thin path through all three real processes: IDE frame → gateway → runtime → llm-proxy mock → back."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import websockets

from tests.e2e.system import System

# Exactly what the real IDE sends: every key of its model, unused ones null (ide-protocol.md §2).
IDE_KEYS = [
    "type",
    "content",
    "role",
    "is_final",
    "call_id",
    "tool_name",
    "arguments",
    "requires_approval",
    "result",
    "error",
    "agent_type",
    "from_agent",
    "to_agent",
    "reason",
    "metadata",
]


def ide_frame(**values: Any) -> str:
    frame = dict.fromkeys(IDE_KEYS)
    frame.update(values)
    return json.dumps(frame)


async def frames_until(ws: websockets.ClientConnection, done: Any, timeout: float = 15.0) -> list[dict[str, Any]]:
    received: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while not received or not done(received[-1]):
            received.append(json.loads(await ws.recv()))
    return received


async def quiet_for(ws: websockets.ClientConnection, seconds: float) -> list[str]:
    extra: list[str] = []
    try:
        async with asyncio.timeout(seconds):
            while True:
                extra.append(str(await ws.recv()))
    except TimeoutError:
        return extra


@pytest.mark.parametrize("path", ["/api/v1/ws/", "/ws/"])
async def test_v1_client_receives_exactly_one_complete_assistant_message(system: System, path: str) -> None:
    url = f"ws://127.0.0.1:{system.gateway.port}{path}e2e-v1-{path.count('/')}"
    async with websockets.connect(url) as ws:
        await ws.send(ide_frame(type="user_message", content="hello world", role="user"))
        frames = await frames_until(ws, lambda f: f["type"] == "assistant_message")
        assert frames[-1]["content"] == "hello world"
        # The orchestrator may route first; the IDE renders agent_switched from its top-level fields.
        for frame in frames[:-1]:
            assert frame["type"] == "agent_switched"
            assert all(isinstance(frame[key], str) for key in ("from_agent", "to_agent", "reason"))
        assert await quiet_for(ws, 0.5) == []


async def test_v2_client_receives_deltas_then_the_final_message(system: System) -> None:
    async with websockets.connect(system.ws_url("e2e-v2", "?protocol=2")) as ws:
        await ws.send(ide_frame(type="user_message", content="hello streaming world", role="user"))
        frames = await frames_until(ws, lambda f: f["type"] == "done")
    messages = [f for f in frames if f["type"] == "assistant_message"]
    deltas = [f for f in messages if f.get("is_final") is False]
    assert [f["token"] for f in deltas] == ["hello", " streaming", " world"]
    assert messages[-1]["is_final"] is True
    assert messages[-1]["content"] == "hello streaming world"
    seqs = [f["seq"] for f in frames if "seq" in f]
    assert seqs == sorted(set(seqs))
    assert len(seqs) == len(frames)


async def test_runtime_sse_relays_one_token_per_event(system: System) -> None:
    body = {"session_id": "e2e-sse", "message": {"type": "user_message", "content": "one two three"}}
    headers = {"X-Internal-Auth": system.key}
    events = []
    async with (
        httpx.AsyncClient(timeout=15) as client,
        client.stream("POST", f"{system.runtime.url}/agent/message/stream", json=body, headers=headers) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    tokens = [e["token"] for e in events if e["type"] == "assistant_message" and e.get("is_final") is False]
    assert tokens == ["one", " two", " three"]
    assert events[-1]["type"] == "done"


async def test_llm_proxy_streams_openai_chunks_ending_with_done(system: System) -> None:
    body = {"model": "mock", "messages": [{"role": "user", "content": "alpha beta"}], "stream": True}
    lines = []
    async with (
        httpx.AsyncClient(timeout=15) as client,
        client.stream(
            "POST", f"{system.proxy.url}/v1/chat/completions", json=body, headers={"X-Internal-Auth": system.key}
        ) as response,
    ):
        assert response.status_code == 200
        lines = [line async for line in response.aiter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    text = "".join(ch["delta"].get("content") or "" for c in chunks for ch in c["choices"])
    assert text == "alpha beta"
