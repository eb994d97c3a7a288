"""The agent loop through the ASGI app against the real llm-proxy (its mock model, run as a process), on SQLite and
PostgreSQL: every frame type over ``POST /agent/message/stream``, the REST views the IDE restores from, a restart."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from agent_runtime.app import create_app
from tests.conftest import KEY, make_settings

IDE_NULLS = dict.fromkeys(["content", "role", "call_id", "tool_name", "arguments", "result", "error", "metadata"])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def proxy_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real llm-proxy (mock model, no token delay) as a process on a free port. A port is free only when it is
    picked: when another process takes it first, the proxy fails to bind and exits, and a new port is tried. The sign
    it is up is its own log line saying it listens on the port (a /health answer could come from another engineer's
    proxy that took the port)."""
    directory = tmp_path_factory.mktemp("proxy")
    for attempt in range(3):
        port = free_port()
        log = directory / f"llm-proxy-{attempt}.log"
        process = start_proxy(port, log)
        if listening(process, log, port):
            break
    else:
        raise RuntimeError(log.read_text())
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(10)


def start_proxy(port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLM_PROXY__")}
    env |= {"LLM_PROXY__PORT": str(port), "LLM_PROXY__INTERNAL_API_KEY": KEY, "LLM_PROXY__MOCK_TOKEN_DELAY_MS": "0"}
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "llm_proxy"], env=env, stdout=out, stderr=subprocess.STDOUT)


def listening(process: subprocess.Popen[bytes], log: Path, port: int) -> bool:
    """True once the process logs that it listens on ``port``; False when it exits first (the port was taken).
    Raises with its log when it neither listens nor exits within 30 s."""
    said = f"running on http://127.0.0.1:{port} ".encode()  # uvicorn's start-up line
    deadline = time.monotonic() + 30
    while said not in log.read_bytes():
        if process.poll() is not None:
            return False
        if time.monotonic() > deadline:
            process.kill()
            process.wait(10)
            raise RuntimeError(log.read_text())
        time.sleep(0.05)
    return True


@asynccontextmanager
async def runtime(tmp_path: Path, db_url: str, proxy: str, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(tmp_path, db_url, llm_proxy_url=proxy, multi_agent_mode=True, **overrides)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://runtime", headers={"X-Internal-Auth": KEY}, timeout=30
        ) as http:
            yield http


@pytest.fixture
async def client(tmp_path: Path, db_url: str, proxy_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with runtime(tmp_path, db_url, proxy_url) as http:
        yield http


async def send(http: httpx.AsyncClient, session_id: str | None, **message: Any) -> list[dict[str, Any]]:
    response = await http.post("/agent/message/stream", json={"session_id": session_id, "message": message})
    assert response.status_code == 200, response.text
    chunks = []
    for block in response.text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(":"))
        chunk = orjson.loads(fields["data"])
        chunk["seq"] = int(fields["id"])
        chunks.append(chunk)
    return chunks


def kinds(chunks: list[dict[str, Any]]) -> list[str]:
    out = []
    for chunk in chunks:
        kind = chunk["type"]
        if kind == "assistant_message":
            kind = "final" if chunk["is_final"] else "delta"
        elif kind in ("done", "tool_call"):
            kind += f":{chunk.get('stop_reason', chunk.get('tool_name'))}"
        out.append(kind)
    return out


async def test_hello_world_is_routed_then_streamed_and_finished(client: httpx.AsyncClient) -> None:
    frame = IDE_NULLS | {"type": "user_message", "content": "hello world", "role": "user"}
    chunks = await send(client, "e2e", **frame)

    assert kinds(chunks) == ["agent_switched", "delta", "delta", "final", "done:completed"]
    assert (chunks[0]["from_agent"], chunks[0]["to_agent"]) == ("orchestrator", "coder")
    assert [c["token"] for c in chunks if c["type"] == "assistant_message" and not c["is_final"]] == ["hello", " world"]
    assert chunks[-2]["content"] == "hello world"
    assert chunks[-1]["usage"]["total_tokens"] > 0


async def test_a_new_session_starts_with_session_info(client: httpx.AsyncClient) -> None:
    chunks = await send(client, None, type="user_message", content="[[route:ask 0.9 question]] what is dart?")

    assert kinds(chunks)[:2] == ["session_info", "agent_switched"]
    assert chunks[1]["metadata"]["confidence"] == 0.9
    assert (await client.get(f"/sessions/{chunks[0]['session_id']}")).status_code == 200


async def test_tool_calls_approvals_and_results_flow_like_the_ide_expects(client: httpx.AsyncClient) -> None:
    script = (
        "[[route:coder 0.9 code]] [[text:I will read and write.]] "
        '[[tool:read_file {"path": "lib/main.dart"}]] [[tool:write_file {"path": "lib/a.dart", "content": "é"}]]'
    )
    first = await send(client, "tools", type="user_message", content=script)
    read = first[-2]
    second = await send(client, "tools", type="tool_result", call_id=read["call_id"], result={"success": True})
    gated = second[0]
    pending = (await client.get("/sessions/tools/pending-approvals")).json()
    edited = {"path": "lib/a.dart", "content": "edited"}
    third = await send(client, "tools", type="hitl_decision", call_id=gated["call_id"], decision="edit",
                       modified_arguments=edited)  # fmt: skip
    outstanding = (await client.get("/sessions/tools/outstanding-tool-calls")).json()["tool_calls"]
    last = await send(client, "tools", type="tool_result", call_id=gated["call_id"], result={"success": True})
    again = await send(client, "tools", type="tool_result", call_id=gated["call_id"], result={"success": True})
    unknown = await send(client, "tools", type="tool_result", call_id="nope", error="x")

    assert kinds(first)[-3:] == ["final", "tool_call:read_file", "done:tool_call"]
    assert kinds(second) == ["tool_call:write_file", "done:approval"]
    assert gated["requires_approval"] is True
    assert [(p["call_id"], p["tool_name"]) for p in pending["pending_approvals"]] == [(gated["call_id"], "write_file")]
    assert kinds(third) == ["tool_call:write_file", "done:tool_call"]
    assert (third[0]["arguments"], third[0]["requires_approval"]) == (edited, False)
    assert [(c["call_id"], c["arguments"]) for c in outstanding] == [(gated["call_id"], edited)]
    assert kinds(last) == ["delta", "final", "done:completed"]
    assert kinds(again) == ["status", "done:completed"]
    assert kinds(unknown) == ["error", "done:completed"]
    history = (await client.get("/sessions/tools/history")).json()["messages"]
    assert [m["role"] for m in history] == ["user", "assistant", "tool", "tool", "assistant"]
    assert len(history[1]["tool_calls"]) == 2


async def test_a_plan_is_approved_and_executed_with_its_agents(client: httpx.AsyncClient) -> None:
    plan = {
        "goal": "Docs and code",
        "subtasks": [
            {"title": "Code", "description": "write it", "agent": "coder", "estimated_time": "1h"},
            {"title": "Docs", "description": "describe it", "agent": "architect", "depends_on": [1]},
        ],
    }
    script = f"[[route:architect 0.9 planning]] [[tool:create_plan {json.dumps(plan)}]] plan this"
    proposed = await send(client, "plan", type="user_message", content=script)
    approval = proposed[-2]
    pending = (await client.get("/sessions/plan/pending-approvals")).json()["pending_approvals"]
    executed = await send(client, "plan", type="plan_decision", decision="approve", approval_request_id="", plan_id="")

    assert kinds(proposed) == ["agent_switched", "plan_approval_required", "done:plan_approval"]
    assert approval["plan_summary"]["subtasks_count"] == 2
    assert [p["tool_name"] for p in pending] == ["create_plan"]
    progress = [c["metadata"]["status"] for c in executed if c["type"] == "plan_progress"]
    assert progress == ["approved", "in_progress", "completed", "in_progress", "completed", "completed"]
    assert [c["to_agent"] for c in executed if c["type"] == "agent_switched"] == ["coder", "architect"]
    assert kinds(executed)[-1] == "done:completed"


async def test_bad_frames_are_refused_before_any_event(client: httpx.AsyncClient) -> None:
    bad = [
        ({"type": "telepathy"}, 400),
        ({"type": "tool_result", "result": {}}, 400),
        ({"type": "hitl_decision", "call_id": "c"}, 400),
        ({"type": "switch_agent", "agent_type": "wizard"}, 400),
        ({"type": "user_message", "content": "hi", "agent_type": "wizard"}, 400),
    ]
    for message, status in bad:
        response = await client.post("/agent/message/stream", json={"session_id": "bad", "message": message})
        assert response.status_code == status, message
    missing = {"type": "tool_result", "call_id": "c", "result": {}}
    response = await client.post("/agent/message/stream", json={"session_id": "nobody", "message": missing})
    assert response.status_code == 404


async def test_a_repeated_client_message_id_is_answered_once(client: httpx.AsyncClient) -> None:
    first = await send(client, "idem", type="user_message", content="hello", client_message_id="m-1")
    again = await send(client, "idem", type="user_message", content="hello", client_message_id="m-1")
    other = {"type": "user_message", "content": "other", "client_message_id": "m-1"}
    response = await client.post("/agent/message/stream", json={"session_id": "idem", "message": other})

    assert again == [c for c in first if c.get("is_final") is not False]
    assert response.status_code == 422
    history = (await client.get("/sessions/idem/history")).json()["messages"]
    assert [m["role"] for m in history] == ["user", "assistant"]


async def test_a_failure_mid_stream_is_an_error_event_and_the_session_stays_usable(client: httpx.AsyncClient) -> None:
    failed = await send(client, "mid", type="user_message", content="[[fault:midstream]] one two three four five six")
    recovered = await send(client, "mid", type="user_message", content="hello again")

    assert kinds(failed)[-2:] == ["error", "done:error"]
    assert failed[-2]["metadata"]["code"] == "llm_stream_failed"
    assert kinds(recovered)[-2:] == ["final", "done:completed"]


async def history_holds(http: httpx.AsyncClient, session_id: str, count: int) -> None:
    """Wait (at most 10 s) until the session's history holds ``count`` messages: a turn runs once its user message
    is stored, so a frame sent after that meets the running turn, however slow the machine is."""
    async with asyncio.timeout(10):
        while True:
            response = await http.get(f"/sessions/{session_id}/history")
            if response.status_code == 200 and len(response.json()["messages"]) >= count:
                return
            await asyncio.sleep(0.02)


async def test_cancel_ends_a_running_turn(client: httpx.AsyncClient) -> None:
    # The model answers after 20 s: only the cancel can end the turn within the client's 30 s.
    running = asyncio.create_task(send(client, "cancel", type="user_message", content="[[ttft_ms:20000]] slow answer"))
    await history_holds(client, "cancel", 1)

    cancelled = await send(client, "cancel", type="cancel")
    original = await running

    assert kinds(cancelled) == ["done:cancelled"]
    assert kinds(original)[-1] == "done:cancelled"


async def test_a_session_waiting_for_a_tool_result_still_waits_after_a_restart(
    tmp_path: Path, db_url: str, proxy_url: str
) -> None:
    async with runtime(tmp_path, db_url, proxy_url) as first:
        chunks = await send(first, "restart", type="user_message", content='[[tool:list_files {"path": "."}]] list')
    async with runtime(tmp_path, db_url, proxy_url) as second:
        outstanding = (await second.get("/sessions/restart/outstanding-tool-calls")).json()["tool_calls"]
        result = await send(second, "restart", type="tool_result", call_id=chunks[-2]["call_id"], result={"items": []})

    assert kinds(chunks)[-2:] == ["tool_call:list_files", "done:tool_call"]
    assert [c["call_id"] for c in outstanding] == [chunks[-2]["call_id"]]
    assert kinds(result)[-2:] == ["final", "done:completed"]


async def test_the_proxy_down_is_an_error_event_after_the_routing_fallback(tmp_path: Path, db_url: str) -> None:
    async with runtime(tmp_path, db_url, f"http://127.0.0.1:{free_port()}", llm_retry_backoff=0) as http:
        chunks = await send(http, "down", type="user_message", content="fix the crash")

    assert kinds(chunks) == ["agent_switched", "error", "done:error"]
    assert chunks[0]["to_agent"] == "debug"
    assert chunks[1]["metadata"]["code"] == "llm_unavailable"
