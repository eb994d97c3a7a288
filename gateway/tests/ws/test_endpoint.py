"""The malformed-input corpus: each bad frame gets an error frame that names the problem (socket stays open) or
the close code for its class (1003 binary, 1007 invalid UTF-8, 1008 flood, 1009 too big), never a traceback."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import orjson
import pytest
from fake_runtime import FakeRuntime
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from conftest import RunningGateway, make_settings, serving
from gateway.ws.frames import IDE_TOOLS

CORPUS = [
    ("not json", "invalid JSON"),
    ('{"type": "user_message", "content": "x"', "invalid JSON"),
    ("[1, 2]", "must be a JSON object"),
    ('"just a string"', "must be a JSON object"),
    ('{"content": "no type"}', "string 'type'"),
    ('{"type": 7}', "string 'type'"),
    ('{"type": "dance"}', "unknown frame type 'dance'"),
    ('{"type": "user_message"}', "content: Field required"),
    ('{"type": "user_message", "content": 5}', "content: Input should be a valid string"),
    ('{"type": "user_message", "content": ""}', "content"),
    ('{"type": "user_message", "content": null}', "content"),
    ('{"type": "tool_result", "call_id": "c1", "result": [1]}', "result: Input should be a valid dictionary"),
    ('{"type": "tool_result", "call_id": "c1", "result": null, "error": null}', "'result' (object) or 'error'"),
    ('{"type": "tool_result", "result": {}}', "call_id: Field required"),
    ('{"type": "hitl_decision", "call_id": "c1", "decision": "maybe"}', "decision"),
    ('{"type": "plan_decision", "plan_id": "p", "decision": "approve"}', "approval_request_id: Field required"),
    ('{"type": "switch_agent", "agent_type": ["coder"]}', "agent_type"),
    ('{"type": "resume", "last_seq": -1}', "last_seq"),
    ('{"type": "resume", "last_seq": "12"}', "last_seq"),
    ('{"type": "hello", "protocol": 3}', "unsupported protocol 3"),
    ('{"type": "cancel"}', "nothing to cancel"),
    ('{"type": "resume", "last_seq": 3}', "nothing to resume"),
]


@pytest.fixture
async def strict_gateway(runtime: FakeRuntime) -> AsyncIterator[RunningGateway]:
    settings = make_settings(runtime.url, ws_max_frame_bytes=4096, ws_rate_per_second=5, ws_rate_burst=40)
    async with serving(settings) as running:
        yield running


async def recv_json(ws: ClientConnection) -> dict[str, object]:
    frame = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
    assert isinstance(frame, dict)
    return frame


async def closed_with(ws: ClientConnection) -> int | None:
    """Drain what the gateway sent before its close frame, then the close code it sent."""
    with contextlib.suppress(ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.recv(), 10)
    return ws.close_code


def no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    bad = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not bad, [r.getMessage() for r in bad]


async def test_each_malformed_frame_gets_an_error_naming_the_problem_and_the_socket_stays_open(
    strict_gateway: RunningGateway, caplog: pytest.LogCaptureFixture
) -> None:
    async with connect(strict_gateway.ws("/api/v1/ws/new_1")) as ws:
        for text, expected in CORPUS:
            await ws.send(text)
            frame = await recv_json(ws)
            assert frame["type"] == "error", text
            assert expected in str(frame["content"]), (text, frame)
            assert frame["content"] == frame["error"]
        await ws.send('{"type": "ping", "nonce": null, "role": null, "unknown_key": {"x": 1}}')
        assert await recv_json(ws) == {"type": "pong"}
    no_tracebacks(caplog)


async def test_explicit_nulls_and_unknown_keys_are_accepted_on_a_user_message(
    strict_gateway: RunningGateway, runtime: FakeRuntime
) -> None:
    async with connect(strict_gateway.ws("/ws/new_2")) as ws:
        await ws.send(
            '{"type":"user_message","content":"hi","role":"user","agent_type":null,"call_id":null,'
            '"arguments":null,"metadata":null,"extra":[1,2]}'
        )
        frame = await recv_json(ws)
        while frame["type"] != "assistant_message":
            frame = await recv_json(ws)
    sent = runtime.received[0]["message"]
    assert sent == {"type": "user_message", "content": "hi", "role": "user", "client_tools": list(IDE_TOOLS)}


async def test_a_binary_frame_closes_with_1003(
    strict_gateway: RunningGateway, caplog: pytest.LogCaptureFixture
) -> None:
    async with connect(strict_gateway.ws("/ws/new_3")) as ws:
        await ws.send(b'{"type":"ping"}')
        assert await closed_with(ws) == 1003
    no_tracebacks(caplog)


async def test_a_frame_over_the_size_limit_closes_with_1009(
    strict_gateway: RunningGateway, caplog: pytest.LogCaptureFixture
) -> None:
    async with connect(strict_gateway.ws("/ws/new_4")) as ws:
        await ws.send(orjson.dumps({"type": "user_message", "content": "x" * 5000}).decode())
        assert await closed_with(ws) == 1009
    no_tracebacks(caplog)


async def test_invalid_utf8_in_a_text_frame_closes_with_1007(
    strict_gateway: RunningGateway, caplog: pytest.LogCaptureFixture
) -> None:
    async with connect(strict_gateway.ws("/ws/new_5")) as ws:
        await ws.send(b'{"type":"user_message","content":"\xff\xfe"}', text=True)
        assert await closed_with(ws) == 1007
    no_tracebacks(caplog)


async def test_a_flood_of_frames_closes_with_1008(
    strict_gateway: RunningGateway, caplog: pytest.LogCaptureFixture
) -> None:
    async with connect(strict_gateway.ws("/ws/new_6")) as ws:
        for _ in range(200):
            await ws.send('{"type":"ping"}')
        assert await closed_with(ws) == 1008
    no_tracebacks(caplog)


async def test_a_flood_on_one_socket_leaves_other_sockets_alone(strict_gateway: RunningGateway) -> None:
    async with connect(strict_gateway.ws("/ws/new_7")) as calm, connect(strict_gateway.ws("/ws/new_8")) as noisy:
        for _ in range(200):
            await noisy.send('{"type":"ping"}')
        assert await closed_with(noisy) == 1008
        await calm.send('{"type":"ping","nonce":"still here"}')
        assert await recv_json(calm) == {"type": "pong", "nonce": "still here"}


async def test_the_runtime_refusing_a_frame_becomes_an_error_frame(
    strict_gateway: RunningGateway, runtime: FakeRuntime
) -> None:
    runtime.agent.accepted_types = frozenset({"user_message"})
    async with connect(strict_gateway.ws("/ws/new_9")) as ws:
        await ws.send('{"type":"switch_agent","agent_type":"coder"}')
        frame = await recv_json(ws)
        assert frame["type"] == "error"
        assert "unknown message type 'switch_agent'" in str(frame["content"])
        await ws.send('{"type":"ping"}')
        assert await recv_json(ws) == {"type": "pong"}


async def test_a_hanging_runtime_does_not_hold_the_handshake_past_the_ides_five_seconds(
    gateway: RunningGateway, runtime: FakeRuntime
) -> None:
    session = runtime.create_session(None)
    runtime.probe_delay = 30
    async with connect(gateway.ws(f"/ws/{session.id}"), open_timeout=5) as ws:
        await ws.send('{"type":"ping"}')
        assert await recv_json(ws) == {"type": "pong"}
