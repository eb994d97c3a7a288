"""When an exchange ends, and how tool calls are answered exactly once."""

from __future__ import annotations

import asyncio
from pathlib import Path

from codelab_chat.app import run
from codelab_chat.conversation import Conversation
from codelab_chat.decisions import FlagDecider
from codelab_chat.link import ReconnectPolicy, SessionLink
from codelab_chat.tools.executor import ToolExecutor
from codelab_chat.tools.limits import ToolLimits
from codelab_chat.views import RichView
from codelab_chat.workspace import Workspace
from fake_gateway import FakeGateway, FakeSession, Frame
from harness import CapturedConsole, options_for


async def repeated_tool_call(session: FakeSession, frame: Frame) -> None:
    if frame["type"] == "user_message":
        for _ in range(2):  # a runtime that re-announces an outstanding call after a restart
            await session.emit("tool_call", call_id="c1", tool_name="create_directory", arguments={"path": "d"})
        await session.done("tool_call")
    else:
        await session.say("made")
        await session.done()


async def test_a_tool_call_announced_twice_is_executed_and_answered_once(
    workspace: Path, out: CapturedConsole, info: CapturedConsole
) -> None:
    async with FakeGateway(repeated_tool_call) as gateway:
        transcript = await run("mkdir", options_for(gateway.url, workspace), out=out.console, info=info.console)

    assert len(gateway.received_of("tool_result")) == 1
    assert len(transcript.turns[0].tool_runs) == 1
    assert transcript.reply == "made"


async def big_read(session: FakeSession, frame: Frame) -> None:
    if frame["type"] == "user_message":
        await session.emit("tool_call", call_id="c1", tool_name="read_file", arguments={"path": "big.txt"})
        await session.done("tool_call")
    else:
        await session.say("too big" if "error" in frame else "read")
        await session.done()


async def test_a_result_too_large_for_the_gateway_is_replaced_by_an_error(
    workspace: Path, out: CapturedConsole, info: CapturedConsole
) -> None:
    (workspace / "big.txt").write_text("x" * 5000, encoding="utf-8")
    async with FakeGateway(big_read) as gateway:
        options = options_for(gateway.url, workspace, limits=ToolLimits(max_result_bytes=1000))
        transcript = await run("read", options, out=out.console, info=info.console)

    [result] = gateway.received_of("tool_result")
    assert result["error"].startswith("Result too large to send")
    assert "result" not in result
    assert transcript.reply == "too big"


async def two_calls_one_at_a_time(session: FakeSession, frame: Frame) -> None:
    if frame["type"] == "user_message":
        await session.emit("tool_call", call_id="c1", tool_name="list_files", arguments={"path": "."})
        await session.emit("tool_call", call_id="c2", tool_name="list_files", arguments={"path": "."})
        await session.done("tool_call")
    elif frame["call_id"] == "c1":
        await session.done("tool_call")  # still waiting for c2
    else:
        await session.say("both seen")
        await session.done()


async def test_the_turn_waits_for_every_stream_it_opened(
    workspace: Path, out: CapturedConsole, info: CapturedConsole
) -> None:
    async with FakeGateway(two_calls_one_at_a_time) as gateway:
        transcript = await run("two", options_for(gateway.url, workspace), out=out.console, info=info.console)

    assert transcript.reply == "both seen"
    assert transcript.turns[0].stop_reason == "completed"


async def refuse_then_answer(session: FakeSession, frame: Frame) -> None:
    assert session.attachment is not None
    # A connection-level error (no seq), as the gateway sends when the runtime refused the frame.
    await session.attachment.connection.send('{"type":"error","content":"runtime unavailable"}')


async def test_a_refused_frame_ends_the_exchange_with_an_error(
    workspace: Path, out: CapturedConsole, info: CapturedConsole
) -> None:
    async with FakeGateway(refuse_then_answer) as gateway:
        transcript = await run("hi", options_for(gateway.url, workspace), out=out.console, info=info.console)

    assert not transcript.ok
    assert transcript.turns[0].errors == ["runtime unavailable"]
    assert not transcript.turns[0].fatal


async def silent(session: FakeSession, frame: Frame) -> None:
    return None


async def test_silence_past_the_idle_timeout_ends_the_turn_as_fatal(
    workspace: Path, out: CapturedConsole, info: CapturedConsole
) -> None:
    async with FakeGateway(silent) as gateway:
        options = options_for(gateway.url, workspace, idle_timeout=0.3)
        transcript = await run("hi", options, out=out.console, info=info.console)

    assert transcript.turns[0].fatal
    assert "no frame from the gateway" in transcript.turns[0].errors[0]


async def switch(session: FakeSession, frame: Frame) -> None:
    if frame["type"] == "switch_agent":
        await session.emit("agent_switched", from_agent="orchestrator", to_agent=frame["agent_type"], reason="user")
        await session.done("completed")
    else:
        await session.say(f"hi from {frame.get('agent_type')}")
        await session.done()


async def test_switching_agents_then_talking_in_one_session(
    workspace: Path, out: CapturedConsole, info: CapturedConsole
) -> None:
    async with FakeGateway(switch) as gateway:
        link = SessionLink(gateway.url, "new_1", policy=ReconnectPolicy(initial_delay=0.01))
        await link.open()
        view = RichView(out.console, info.console)
        conversation = Conversation(link, ToolExecutor(Workspace(workspace)), FlagDecider(), view, idle_timeout=5)
        first = await conversation.say("hello", "ask")
        switched = await conversation.switch_agent("coder")
        second = await conversation.say("again", "coder")
        await link.close()

    assert first.reply == "hi from ask"
    assert [f["type"] for f in switched.frames] == ["agent_switched", "done"]
    assert second.reply == "hi from coder"
    assert "orchestrator → coder" in info.text
    assert link.session_id == "s1"


async def decision_stream_ends_completed(session: FakeSession, frame: Frame) -> None:
    if frame["type"] == "user_message":
        await session.emit(
            "tool_call",
            call_id="w",
            tool_name="write_file",
            arguments={"path": "a", "content": "b"},
            requires_approval=True,
        )
        await session.done("approval")
    elif frame["type"] == "hitl_decision":
        await session.done("completed")  # the decision's own run has nothing more to say
    else:
        await session.say("The write_file call succeeded.")
        await session.done("completed")


async def test_a_completed_decision_stream_does_not_end_the_turn_before_the_tool_reply(
    workspace: Path, out: CapturedConsole, info: CapturedConsole
) -> None:
    async with FakeGateway(decision_stream_ends_completed) as gateway:
        options = options_for(gateway.url, workspace, auto_approve=True)
        transcript = await run("write", options, out=out.console, info=info.console)

    assert transcript.reply == "The write_file call succeeded."
    assert out.text == "The write_file call succeeded.\n"


async def slow_reply(session: FakeSession, frame: Frame) -> None:
    if frame["type"] == "user_message":
        # The run goes on (no done yet); the cancel's handler below plays its end.
        await session.emit("assistant_message", token="partial", is_final=False)
    else:
        # The cancelled run ends; the cancel's own stream is empty (as the gateway's fake runtime does it).
        await session.emit("assistant_message", content="partial", is_final=True)
        await session.done("cancelled")


async def test_cancel_ends_the_turn_with_the_cancelled_run(
    workspace: Path, out: CapturedConsole, info: CapturedConsole
) -> None:
    async with FakeGateway(slow_reply) as gateway:
        link = SessionLink(gateway.url, "new_1")
        await link.open()
        conversation = Conversation(
            link, ToolExecutor(Workspace(workspace)), FlagDecider(), RichView(out.console, info.console), idle_timeout=5
        )
        turn_task = asyncio.ensure_future(conversation.say("long"))
        while link.last_seq is None or link.last_seq < 2:
            await asyncio.sleep(0.01)
        await conversation.cancel()
        turn = await turn_task
        await link.close()

    assert gateway.received_of("cancel") == [{"type": "cancel"}]
    assert [f.get("stop_reason") for f in turn.frames if f["type"] == "done"] == ["cancelled"]
    assert not turn.ok
    assert turn.reply == "partial"
