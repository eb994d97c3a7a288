"""Hostile values against the three real processes, on SQLite and on the real PostgreSQL: every REST route of every
service (the gateway's facade and login included), every frame type of the IDE socket (v1 and v2) and ACP.

The corpus: NUL characters, lone surrogates, numbers past 64 bits, deep nesting, huge strings. Asserted: no 5xx,
errors in the JSON envelope (JSON-RPC errors on ACP), no socket closed with 1011, no traceback in any log, and a
user message with a NUL reaches the history exactly as sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from tests.e2e.conftest import PLANTED_KEY
from tests.e2e.system import System, start_system

POSTGRES_URL = os.environ.get("CODELAB_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
NUMBERS = ["9223372036854775808", "99999999999999999999", "-9223372036854775809", "1e400"]
SEGMENTS = ["%00", "a%00b", "%ED%A0%80", "%FF", "x" * 3000]
# JSON texts: lone surrogates only exist as escapes, and nesting must reach the parser whole.
VALUES = [
    '"nul\\u0000inside"',
    '"\\ud800"',
    '"\\udfff tail"',
    '"' + "y" * 2_000_000 + '"',
    *NUMBERS[:2],
    "[" * 50_000 + "]" * 50_000,
    '{"a":' * 3_000 + "1" + "}" * 3_000,
]


async def _fresh_postgres_database() -> str:
    name = f"hostile_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(POSTGRES_URL, timeout=5)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return POSTGRES_URL.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def hostile(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    env = {}
    if request.param == "postgres":
        env["AGENT_RUNTIME__DB_URL"] = asyncio.run(_fresh_postgres_database())
    system = start_system(Path(tmp_path_factory.mktemp(f"hostile-{request.param}")), PLANTED_KEY, env)
    try:
        yield system
    finally:
        system.stop()


def check_answer(answer: httpx.Response, where: str) -> None:
    assert answer.status_code < 500, f"{where}: {answer.status_code} {answer.text[:300]}"
    if answer.status_code >= 400:
        assert answer.json()["error"]["message"], where


def message_of(value: str) -> str:
    """A request body whose one user message has ``value`` as its content."""
    return f'{{"messages": [{{"role": "user", "content": {value}}}]}}'


def rest_targets(session_id: str) -> list[tuple[str, str, str, str | None]]:
    """(service, method, path, body) for the REST routes of every service with each hostile value in turn."""
    found: list[tuple[str, str, str, str | None]] = []
    for number in NUMBERS:
        found += [
            ("gateway", "GET", f"/api/v1/sessions?offset={number}", None),
            ("gateway", "GET", f"/api/v1/sessions?limit={number}", None),
            ("gateway", "GET", f"/api/v1/sessions/{session_id}/events?after={number}", None),
            ("gateway", "GET", f"/api/v1/events/audit-log?limit={number}", None),
            ("gateway", "GET", f"/api/v1/events/metrics/sessions?limit={number}", None),
        ]
    for segment in SEGMENTS:
        found += [
            ("gateway", "GET", f"/api/v1/sessions/{segment}", None),
            ("gateway", "GET", f"/api/v1/sessions/{segment}/history", None),
            ("gateway", "GET", f"/api/v1/sessions/{segment}/events", None),
            ("gateway", "PATCH", f"/api/v1/sessions/{segment}", '{"title": "t"}'),
            ("gateway", "DELETE", f"/api/v1/sessions/{segment}", None),
            ("gateway", "POST", f"/api/v1/agents/{segment}/switch", '{"agent_type": "coder"}'),
            ("gateway", "GET", f"/api/v1/events/audit-log?session_id={segment}", None),
            ("gateway", "GET", f"/api/v1/events/audit-log?event_type={segment}", None),
            ("llm-proxy", "GET", f"/v1/models/{segment}", None),
            ("llm-proxy", "GET", f"/v1/llm/usage/{segment}", None),
            ("llm-proxy", "GET", f"/v1/responses/{segment}", None),
            ("llm-proxy", "DELETE", f"/v1/responses/{segment}", None),
        ]
    for value in VALUES:
        found += [
            ("gateway", "POST", "/api/v1/sessions", f'{{"title": {value}}}'),
            ("gateway", "PATCH", f"/api/v1/sessions/{session_id}", f'{{"title": {value}}}'),
            ("gateway", "POST", f"/api/v1/agents/{session_id}/switch", f'{{"agent_type": {value}}}'),
            ("llm-proxy", "POST", "/v1/chat/completions", f'{{"model": {value}, "messages": []}}'),
            ("llm-proxy", "POST", "/v1/chat/completions", message_of(value)),
            ("llm-proxy", "POST", "/v1/chat/completions", f'{{"messages": [], "max_tokens": {value}}}'),
            ("llm-proxy", "POST", "/v1/responses", f'{{"input": {value}}}'),
            ("llm-proxy", "POST", "/v1/messages", f'{{"max_tokens": {value}, "messages": []}}'),
            ("llm-proxy", "POST", "/v1/messages/count_tokens", message_of(value)),
            ("llm-proxy", "POST", "/v1/embeddings", f'{{"input": {value}}}'),
        ]
    return found


async def test_every_rest_route_answers_hostile_values_without_a_server_error(hostile: System) -> None:
    async with httpx.AsyncClient(timeout=30, headers={"X-Internal-Auth": hostile.key}) as http:
        session_id = (await http.post(hostile.gateway.url + "/api/v1/sessions")).json()["id"]
        for service, method, path, body in rest_targets(session_id):
            where = f"{service} {method} {path[:80]} {(body or '')[:60]!r}"
            answer = await http.request(
                method,
                hostile.services[service].url + path,
                content=body.encode() if body is not None else None,
                headers={"Content-Type": "application/json"},
            )
            check_answer(answer, where)
        for value in ("%00", "a%00b", "%ED%A0%80", "%FF", "x" * 5000):
            form = f"grant_type=password&client_id={value}&username={value}&password={value}"
            answer = await http.post(
                hostile.gateway.url + "/oauth/token",
                content=form.encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            assert answer.status_code < 500, answer.text
    assert_no_traceback(hostile)


async def exchange(ws: websockets.ClientConnection, text: str) -> int | None:
    """Send one raw text frame; read what comes for a moment. The close code if the socket closed, else None."""
    try:
        await ws.send(text)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.5):
                while True:
                    await ws.recv()
    except ConnectionClosed:
        return ws.close_code
    return None


def frames() -> list[str]:
    found = []
    for value in VALUES:
        found += [
            f'{{"type": "user_message", "content": {value}}}',
            f'{{"type": "tool_result", "call_id": {value}, "result": {{"success": true}}}}',
            f'{{"type": "tool_result", "call_id": "c1", "result": {value}}}',
            f'{{"type": "approval_response", "call_id": "c1", "approved": {value}}}',
            f'{{"type": "switch_agent", "agent_type": {value}}}',
            f'{{"type": {value}}}',
            f'{{"type": "resume", "after": {value}, "last_seq": {value}}}',
            value,
        ]
    return found


@pytest.mark.parametrize("protocol", ["", "?protocol=2"])
async def test_every_frame_type_takes_hostile_values_and_the_session_stays_usable(
    hostile: System, protocol: str
) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        session_id = (await http.post(hostile.gateway.url + "/api/v1/sessions")).json()["id"]
        url = hostile.ws_url(session_id, protocol)
        ws = await websockets.connect(url, max_size=None)
        try:
            for text in frames():
                code = await exchange(ws, text)
                assert code != 1011, f"{text[:80]!r} closed the socket with 1011"
                if code is not None:  # a refused frame may close (1003, 1007, 1008, 1009): reconnect, go on
                    ws = await websockets.connect(url, max_size=None)
            assert await exchange(ws, json.dumps({"type": "user_message", "content": "after\u0000all"})) is None
        finally:
            await ws.close()
        history = (await http.get(f"{hostile.gateway.url}/api/v1/sessions/{session_id}/history")).json()
    assert "after\u0000all" in [m["content"] for m in history["messages"] if m["role"] == "user"]
    assert_no_traceback(hostile)


async def test_acp_takes_hostile_values_with_json_rpc_errors(hostile: System) -> None:
    url = hostile.gateway.url.replace("http", "ws") + "/acp"
    async with websockets.connect(url, max_size=None) as ws:

        async def call(text: str) -> dict[str, Any] | None:
            await ws.send(text)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5):
                    while True:
                        message = json.loads(await ws.recv())
                        if "id" in message and ("result" in message or "error" in message):
                            return message  # type: ignore[no-any-return]
            return None

        init = await call('{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":1}}')
        assert "result" in (init or {}), init
        created = await call('{"jsonrpc":"2.0","id":2,"method":"session/new","params":{"cwd":"/tmp","mcpServers":[]}}')
        assert "result" in (created or {}), created
        session_id = (created or {})["result"]["sessionId"]
        for value in (v for v in VALUES if len(v) < 1_000_000):  # a bigger frame closes with 1009 (tested above)
            for text in (
                f'{{"jsonrpc":"2.0","id":{value},"method":"session/list","params":{{}}}}',
                f'{{"jsonrpc":"2.0","id":3,"method":{value},"params":{{}}}}',
                f'{{"jsonrpc":"2.0","id":4,"method":"session/new","params":{{"cwd":{value},"mcpServers":[]}}}}',
                f'{{"jsonrpc":"2.0","id":5,"method":"session/load","params":{{"sessionId":{value},"cwd":"/tmp",'
                f'"mcpServers":[]}}}}',
                f'{{"jsonrpc":"2.0","id":6,"method":"session/prompt","params":{{"sessionId":"{session_id}",'
                f'"prompt":[{{"type":"text","text":{value}}}]}}}}',
            ):
                answer = await call(text)
                if answer is not None and "error" in answer:
                    assert answer["error"]["code"] != -32603, f"{text[:100]!r}: {answer}"
        prompt = await call(
            f'{{"jsonrpc":"2.0","id":7,"method":"session/prompt","params":{{"sessionId":"{session_id}",'
            '"prompt":[{"type":"text","text":"still \\u0000 here"}]}}'
        )
        assert "result" in (prompt or {}), prompt
    assert_no_traceback(hostile)


def assert_no_traceback(system: System) -> None:
    logs = system.logs()
    assert "Traceback" not in logs, logs[logs.index("Traceback") - 2000 : logs.index("Traceback") + 3000]


async def test_a_tool_result_with_nul_characters_is_stored_as_sent(hostile: System) -> None:
    """A binary file read by the IDE: its content, NUL and all, reaches the history (and the model) unchanged."""
    async with httpx.AsyncClient(timeout=30) as http:
        session_id = (await http.post(hostile.gateway.url + "/api/v1/sessions")).json()["id"]
        async with websockets.connect(hostile.ws_url(session_id)) as ws:
            ask = 'read [[tool:read_file {"path": "blob.bin"}]] [[2:text:done]]'
            await ws.send(json.dumps({"type": "user_message", "content": ask}))
            call = await next_frame(ws, "tool_call")
            content = "PK\u0003\u0004\u0000\u0000binary\u0000tail"
            result = {"success": True, "content": content, "lines_read": 1}
            await ws.send(json.dumps({"type": "tool_result", "call_id": call["call_id"], "result": result}))
            assert (await next_frame(ws, "assistant_message"))["content"] == "done"
        history = (await http.get(f"{hostile.gateway.url}/api/v1/sessions/{session_id}/history")).json()
    tool_results = [json.loads(m["content"]) for m in history["messages"] if m["role"] == "tool"]
    assert tool_results == [result]
    assert_no_traceback(hostile)


async def next_frame(ws: websockets.ClientConnection, kind: str) -> dict[str, Any]:
    async with asyncio.timeout(20):
        while (frame := json.loads(await ws.recv()))["type"] != kind:
            pass
    return frame  # type: ignore[no-any-return]
