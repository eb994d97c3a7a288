"""Dropped connections: reconnect to the real id, ``resume{last_seq}``, and the text comes out exactly once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from websockets.asyncio.server import ServerConnection, serve

from codelab_chat.app import run
from codelab_chat.conversation import Conversation
from codelab_chat.decisions import FlagDecider
from codelab_chat.link import ReconnectPolicy, SessionLink, socket_url
from codelab_chat.tools.executor import ToolExecutor
from codelab_chat.views import RichView
from codelab_chat.workspace import Workspace
from fake_gateway import FakeGateway, FakeSession, Frame
from harness import CapturedConsole, options_for

REPLY = "One two three four five six seven eight nine ten."


def pieces(text: str, count: int) -> list[str]:
    size = len(text) // count + 1
    return [text[start : start + size] for start in range(0, len(text), size)]


def drop_mid_reply(code: int | None, wait_for_client: bool) -> object:
    async def script(session: FakeSession, frame: Frame) -> None:
        parts = pieces(REPLY, 6)
        for part in parts[:3]:
            await session.emit("assistant_message", token=part, is_final=False)
        await session.drop(code)
        if wait_for_client:
            await asyncio.wait_for(session.attached.wait(), 5)
        for part in parts[3:]:
            await session.emit("assistant_message", token=part, is_final=False)
        await session.emit("assistant_message", content=REPLY, is_final=True)
        await session.done()

    return script


@pytest.mark.parametrize(
    ("code", "wait_for_client", "replay_deltas"),
    [
        (None, False, True),  # TCP abort; the run finishes while the client is away; deltas replayed
        (None, False, False),  # ... and only durable frames are replayed: the final message fills the gap
        (1001, True, True),  # server going away; the run continues live after the resume
        (1013, True, True),  # slow consumer
        (1011, False, False),  # internal error
    ],
)
async def test_a_dropped_connection_resumes_and_prints_the_reply_exactly_once(
    workspace: Path,
    out: CapturedConsole,
    info: CapturedConsole,
    code: int | None,
    wait_for_client: bool,
    replay_deltas: bool,
) -> None:
    script = drop_mid_reply(code, wait_for_client)
    async with FakeGateway(script, replay_deltas=replay_deltas) as gateway:  # type: ignore[arg-type]
        transcript = await run("count", options_for(gateway.url, workspace), out=out.console, info=info.console)

    assert out.text == REPLY + "\n"
    assert transcript.reply == REPLY
    assert transcript.ok
    assert transcript.reconnects == 1
    assert gateway.paths == [gateway.paths[0], "/api/v1/ws/s1"]
    # session_info (1) and three deltas (2-4) arrived before the drop.
    assert gateway.received_of("resume") == [{"type": "resume", "last_seq": 4}]
    seqs = [frame["seq"] for frame in transcript.turns[0].frames]
    assert seqs == sorted(set(seqs))


def drop_after(count: int) -> object:
    """Emit the turn's frames (six deltas, final, done) and cut the connection after the first ``count``."""

    async def script(session: FakeSession, frame: Frame) -> None:
        chunks: list[dict[str, object]] = [
            {"type": "assistant_message", "token": part, "is_final": False} for part in pieces(REPLY, 6)
        ]
        chunks += [{"type": "assistant_message", "content": REPLY, "is_final": True}, {"type": "done"}]
        for index, chunk in enumerate(chunks):
            if index == count:
                await session.drop(None)
            fields = {key: value for key, value in chunk.items() if key != "type"}
            if chunk["type"] == "done":
                await session.done()
            else:
                await session.emit(str(chunk["type"]), **fields)

    return script


@pytest.mark.parametrize("count", [0, 1, 6, 7])  # before the first token, after it, after the last, before done
async def test_a_drop_at_any_point_of_the_turn_yields_the_reply_once_and_one_done(
    workspace: Path, out: CapturedConsole, info: CapturedConsole, count: int
) -> None:
    async with FakeGateway(drop_after(count), replay_deltas=False) as gateway:  # type: ignore[arg-type]
        transcript = await run("count", options_for(gateway.url, workspace), out=out.console, info=info.console)

    assert out.text == REPLY + "\n"
    assert [frame["type"] for frame in transcript.turns[0].frames].count("done") == 1
    assert transcript.reconnects == 1


async def test_a_drop_between_turns_is_healed_by_the_next_message(
    workspace: Path, out: CapturedConsole, info: CapturedConsole
) -> None:
    async def reply_then_drop(session: FakeSession, frame: Frame) -> None:
        await session.say(f"re: {frame['content']}")
        await session.done()
        if frame["content"] == "one":
            await session.drop(1001)

    async with FakeGateway(reply_then_drop) as gateway:
        link = SessionLink(gateway.url, "new_1", policy=ReconnectPolicy(initial_delay=0.01))
        await link.open()
        view = RichView(out.console, info.console)
        conversation = Conversation(link, ToolExecutor(Workspace(workspace)), FlagDecider(), view, idle_timeout=5)
        first = await conversation.say("one")
        await asyncio.sleep(0.1)  # the close arrives while nobody reads
        second = await conversation.say("two")
        await link.close()

    assert (first.reply, second.reply) == ("re: one", "re: two")
    assert out.text == "re: one\nre: two\n"
    assert [f["type"] for f in gateway.received] == ["user_message", "resume", "user_message"]


async def test_frames_a_faulty_gateway_replays_twice_are_dropped_by_seq(
    workspace: Path, out: CapturedConsole, info: CapturedConsole
) -> None:
    script = drop_mid_reply(1001, wait_for_client=False)
    async with FakeGateway(script, replay_overlap=3) as gateway:  # type: ignore[arg-type]
        transcript = await run("count", options_for(gateway.url, workspace), out=out.console, info=info.console)

    assert out.text == REPLY + "\n"
    assert [frame["type"] for frame in transcript.turns[0].frames].count("session_info") == 1


async def tool_call_then_drop(session: FakeSession, frame: Frame) -> None:
    if frame["type"] == "user_message":
        await session.emit("tool_call", call_id="c1", tool_name="list_files", arguments={"path": "."})
        await session.drop(1001)
        await session.done("tool_call")
    else:
        await session.say(f"{frame['result']['total_count']} files")
        await session.done()


async def test_a_tool_result_made_while_disconnected_is_sent_after_the_resume(
    workspace: Path, out: CapturedConsole, info: CapturedConsole
) -> None:
    (workspace / "a.txt").write_text("a", encoding="utf-8")
    async with FakeGateway(tool_call_then_drop) as gateway:
        transcript = await run("list", options_for(gateway.url, workspace), out=out.console, info=info.console)

    assert [frame["type"] for frame in gateway.received] == ["user_message", "resume", "tool_result"]
    assert len(gateway.received_of("tool_result")) == 1
    assert transcript.reply == "1 files"


async def policy_close(session: FakeSession, frame: Frame) -> None:
    await session.emit("assistant_message", token="partial", is_final=False)
    await session.drop(1008)


async def test_a_policy_close_is_final_and_fails_the_run(
    workspace: Path, out: CapturedConsole, info: CapturedConsole
) -> None:
    async with FakeGateway(policy_close) as gateway:
        transcript = await run("hi", options_for(gateway.url, workspace), out=out.console, info=info.console)

    assert not transcript.ok
    assert transcript.turns[0].fatal
    assert "1008" in transcript.turns[0].errors[0]
    assert len(gateway.paths) == 1


async def test_reconnects_give_up_after_the_configured_attempts(
    workspace: Path, out: CapturedConsole, info: CapturedConsole
) -> None:
    async def vanish(session: FakeSession, frame: Frame) -> None:
        await session.emit("assistant_message", token="x", is_final=False)
        await gateway.__aexit__(None, None, None)

    gateway = FakeGateway(vanish)
    await gateway.__aenter__()
    options = options_for(gateway.url, workspace, max_reconnects=3)
    transcript = await run("hi", options, out=out.console, info=info.console)

    assert transcript.turns[0].fatal
    assert "could not reconnect" in transcript.turns[0].errors[0]


def test_socket_urls_accept_http_and_ws_bases() -> None:
    assert socket_url("ws://h:8000", "new_1") == "ws://h:8000/api/v1/ws/new_1?protocol=2"
    assert socket_url("http://h:8000/", "s 1") == "ws://h:8000/api/v1/ws/s%201?protocol=2"
    assert socket_url("https://h/api/v1/ws", "s") == "wss://h/api/v1/ws/s?protocol=2"


async def test_a_drop_before_the_session_exists_fails_clearly(
    workspace: Path, out: CapturedConsole, info: CapturedConsole
) -> None:
    connections: list[str] = []

    async def crash_on_first_message(connection: ServerConnection) -> None:
        assert connection.request is not None
        connections.append(connection.request.path)
        await connection.recv()
        connection.transport.abort()

    async with serve(crash_on_first_message, "127.0.0.1", 0) as server:
        url = f"ws://127.0.0.1:{next(iter(server.sockets)).getsockname()[1]}"
        transcript = await run("hi", options_for(url, workspace), out=out.console, info=info.console)

    assert transcript.turns[0].fatal
    assert "before the gateway created the session" in transcript.turns[0].errors[0]
    assert len(connections) == 1  # no second session started behind the user's back
