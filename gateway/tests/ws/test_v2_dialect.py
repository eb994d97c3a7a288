"""The v2 dialect end to end: deltas then the final, seq on every session frame, hello, ping, cancel, queueing."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from fake_agent import LONG_REPLY
from fake_runtime import FakeRuntime
from websockets.asyncio.client import ClientConnection, connect

from conftest import RunningGateway, make_settings, serving
from gateway.ws.frames import IDE_TOOLS


async def recv(ws: ClientConnection) -> dict[str, Any]:
    frame = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
    assert isinstance(frame, dict)
    assert all(v is not None for v in frame.values()), f"null keys must be omitted: {frame}"
    return frame


async def until_done(ws: ClientConnection) -> list[dict[str, Any]]:
    frames = []
    while True:
        frame = await recv(ws)
        frames.append(frame)
        if frame["type"] == "done":
            return frames


async def test_protocol_2_streams_deltas_then_the_final_message_and_done_with_usage(gateway: RunningGateway) -> None:
    async with connect(gateway.ws("/api/v1/ws/new_a?protocol=2")) as ws:
        await ws.send(orjson.dumps({"type": "user_message", "content": "tell a long story"}).decode())
        frames = await until_done(ws)
    kinds = [f["type"] for f in frames]
    assert kinds[0] == "session_info"
    assert kinds[-1] == "done"
    deltas = [f["token"] for f in frames if f["type"] == "assistant_message" and f["is_final"] is False]
    final = [f for f in frames if f["type"] == "assistant_message" and f["is_final"] is True]
    assert "".join(deltas) == LONG_REPLY == final[0]["content"]
    seqs = [f["seq"] for f in frames]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == len(seqs)
    assert frames[-1]["usage"]["total_tokens"] == 15
    assert frames[-1]["stop_reason"] == "completed"


async def test_a_first_hello_frame_selects_v2_and_ping_answers_pong_without_seq(gateway: RunningGateway) -> None:
    async with connect(gateway.ws("/ws/new_b")) as ws:
        await ws.send('{"type":"hello","protocol":2}')
        assert await recv(ws) == {"type": "hello", "protocol": 2}
        await ws.send('{"type":"ping","nonce":"n-1"}')
        assert await recv(ws) == {"type": "pong", "nonce": "n-1"}
        await ws.send('{"type":"user_message","content":"hi"}')
        frames = await until_done(ws)
    assert any(f["type"] == "assistant_message" and f["is_final"] is False for f in frames)
    assert all("seq" in f for f in frames)


async def test_the_tools_a_hello_declares_go_to_the_runtime_with_every_frame(
    gateway: RunningGateway, runtime: FakeRuntime
) -> None:
    hello = {"type": "hello", "protocol": 2, "client_tools": ["read_file"], "client_tools_options": {"x": True}}
    async with connect(gateway.ws("/ws/new_t")) as ws:
        await ws.send(orjson.dumps(hello).decode())
        assert await recv(ws) == {"type": "hello", "protocol": 2}
        await ws.send('{"type":"user_message","content":"hi"}')
        await until_done(ws)
    async with connect(gateway.ws("/ws/new_u?protocol=2")) as ws:
        await ws.send('{"type":"user_message","content":"hi"}')
        await until_done(ws)
    declared, legacy = (r["message"] for r in runtime.received)
    assert (declared["client_tools"], declared["client_tools_options"]) == (["read_file"], {"x": True})
    assert legacy["client_tools"] == list(IDE_TOOLS)  # no hello with tools: the IDE's six, said every time
    assert "client_tools_options" not in legacy


async def test_hello_after_other_frames_is_refused_and_the_dialect_stays_v1(gateway: RunningGateway) -> None:
    async with connect(gateway.ws("/ws/new_c")) as ws:
        await ws.send('{"type":"ping"}')
        assert await recv(ws) == {"type": "pong"}
        await ws.send('{"type":"hello","protocol":2}')
        error = await recv(ws)
        assert error["type"] == "error"
        assert "first frame" in error["content"]


async def test_cancel_is_read_while_a_turn_streams_and_ends_the_turn(
    slow_gateway: RunningGateway, slow_runtime: FakeRuntime
) -> None:
    async with connect(slow_gateway.ws("/api/v1/ws/new_d?protocol=2")) as ws:
        await ws.send('{"type":"user_message","content":"a long one please"}')
        while (await recv(ws)).get("is_final") is not False:
            pass
        await ws.send('{"type":"cancel"}')
        frames = await until_done(ws)
    assert frames[-1]["stop_reason"] == "cancelled"
    assert not any(f.get("is_final") is True for f in frames)
    assert [r["message"]["type"] for r in slow_runtime.received] == ["user_message", "cancel"]


async def test_a_user_message_sent_during_a_turn_is_queued_and_answered_after_it(
    slow_gateway: RunningGateway,
) -> None:
    async with connect(slow_gateway.ws("/api/v1/ws/new_e?protocol=2")) as ws:
        await ws.send('{"type":"user_message","content":"a long one please"}')
        first = await recv(ws)
        assert first["type"] == "session_info"
        await ws.send('{"type":"user_message","content":"second"}')
        frames = await until_done(ws)
        frames += await until_done(ws)
    finals = [f["content"] for f in frames if f.get("is_final") is True]
    assert finals == [LONG_REPLY, "Echo: second"]
    assert any(f["type"] == "status" and "seq" not in f for f in frames)
    seqs = [f["seq"] for f in frames if f["type"] != "status"]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == len(seqs)


async def test_a_client_choosing_v2_by_hello_gets_no_v1_tool_call_restore(gateway: RunningGateway) -> None:
    async with connect(gateway.ws("/ws/new_f?protocol=2")) as ws:
        await ws.send('{"type":"user_message","content":"read the pubspec"}')
        frames = await until_done(ws)
    session_id = frames[0]["session_id"]
    assert frames[-1]["stop_reason"] == "tool_call"
    async with connect(gateway.ws(f"/ws/{session_id}")) as ws:
        await ws.send('{"type":"hello","protocol":2}')
        assert (await recv(ws))["type"] == "hello"
        await ws.send('{"type":"ping"}')
        assert await recv(ws) == {"type": "pong"}


async def test_a_runtime_that_is_down_becomes_an_error_frame_and_the_socket_stays(runtime: FakeRuntime) -> None:
    await runtime.stop()
    async with serving(make_settings(runtime.url)) as gateway, connect(gateway.ws("/ws/new_g")) as ws:
        await ws.send('{"type":"user_message","content":"hi"}')
        error = await recv(ws)
        assert error["type"] == "error"
        assert "agent runtime unavailable" in str(error["content"])
        assert error["metadata"] == {"code": "runtime_unavailable"}  # not delivered: the client may send it again
        assert "seq" not in error
        await ws.send('{"type":"ping"}')
        assert await recv(ws) == {"type": "pong"}


async def test_a_follow_up_that_breaks_is_news_with_its_own_code(gateway: RunningGateway, runtime: FakeRuntime) -> None:
    async with connect(gateway.ws("/api/v1/ws/new_follow?protocol=2")) as ws:
        await ws.send('{"type":"user_message","content":"hi"}')
        frames = await until_done(ws)
    session_id, last_seq = frames[0]["session_id"], frames[-1]["seq"]
    async with connect(gateway.ws(f"/api/v1/ws/{session_id}?protocol=2")) as ws:
        await ws.send(orjson.dumps({"type": "resume", "last_seq": last_seq}).decode())
        async with asyncio.timeout(10):  # the gateway follows the session live now: the break comes mid-follow
            while not runtime.sessions[session_id].subscribers:
                await asyncio.sleep(0.01)
        await runtime.stop()
        error = await recv(ws)

    assert error["type"] == "error"
    assert "seq" not in error
    # Not the end of any frame's stream (those end with their own done or error): a client does not count it.
    assert error["metadata"] == {"code": "follow_failed"}
