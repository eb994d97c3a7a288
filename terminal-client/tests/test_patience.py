"""The client does not give up: a frame the runtime could not take is sent again until it is, and a patient link
(the interactive client) waits for a gateway that is not up yet instead of failing."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from pathlib import Path

from codelab_chat.app import run
from codelab_chat.conversation import Conversation
from codelab_chat.decisions import FlagDecider
from codelab_chat.link import ReconnectPolicy, SessionLink
from codelab_chat.tools.executor import ToolExecutor
from codelab_chat.views import RichView
from codelab_chat.workspace import Workspace
from fake_gateway import FakeGateway, FakeSession, Frame
from harness import CapturedConsole, options_for

UNAVAILABLE = "agent runtime unavailable: cannot connect to 127.0.0.1:8001: Connection refused"


def runtime_down_for(refusals: int) -> object:
    """Answers the first message; refuses the next ``refusals`` deliveries as a gateway whose runtime is down."""
    state = {"refused": 0}

    async def script(session: FakeSession, frame: Frame) -> None:
        if frame["content"] != "first" and state["refused"] < refusals:
            state["refused"] += 1
            await session.control(
                "error", content=UNAVAILABLE, error=UNAVAILABLE, metadata={"code": "runtime_unavailable"}
            )
            return
        await session.say(f"answer to {frame['content']}")
        await session.done()

    return script


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait (bounded) until ``condition()`` holds; fail the test if it never does."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def test_a_message_the_runtime_could_not_take_is_sent_again_until_it_is(
    workspace: Path, out: CapturedConsole, info: CapturedConsole
) -> None:
    async with FakeGateway(runtime_down_for(3)) as gateway:  # type: ignore[arg-type]
        view = RichView(out.console, info.console)
        link = SessionLink(gateway.url, "new_1", policy=ReconnectPolicy(attempts=5, initial_delay=0.01))
        await link.open()
        conversation = Conversation(link, ToolExecutor(Workspace(str(workspace))), FlagDecider(), view, idle_timeout=10)
        first = await conversation.say("first")
        second = await conversation.say("second")
        await link.close()

    assert first.ok
    assert second.ok, second.errors
    assert second.reply == "answer to second"
    sent = [f for f in gateway.received_of("user_message") if f["content"] == "second"]
    assert len(sent) == 4  # three refusals, then delivered
    assert len({f["client_message_id"] for f in sent}) == 1  # the same message each time: the runtime runs it once
    assert not conversation.resending  # delivered: a Ctrl-C would cancel the run again
    assert "kept and sent again" in info.text
    assert info.text.count("kept and sent again") == 1  # said once, not at every attempt
    assert "error:" not in info.text


async def test_the_resend_attempts_are_bounded_outside_the_interactive_client(
    workspace: Path, out: CapturedConsole, info: CapturedConsole
) -> None:
    async with FakeGateway(runtime_down_for(100)) as gateway:  # type: ignore[arg-type]
        options = options_for(gateway.url, workspace, max_reconnects=2)
        transcript = await run("first", options, out=out.console, info=info.console)
        assert transcript.ok
        options = options_for(gateway.url, workspace, max_reconnects=2, session=transcript.session_id)
        failed = await run("second", options, out=out.console, info=info.console)

    assert not failed.ok
    assert failed.turns[0].errors == [UNAVAILABLE]
    assert len([f for f in gateway.received_of("user_message") if f["content"] == "second"]) == 3


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_patient_link_waits_for_a_gateway_that_is_not_up_yet(
    workspace: Path, out: CapturedConsole, info: CapturedConsole
) -> None:
    async def answer(session: FakeSession, frame: Frame) -> None:
        await session.say("finally")
        await session.done()

    port = free_port()
    notices: list[str] = []
    progress: list[str] = []
    link = SessionLink(
        f"ws://127.0.0.1:{port}",
        "new_1",
        policy=ReconnectPolicy(attempts=None, initial_delay=0.05, max_delay=0.2),
        on_notice=notices.append,
        on_progress=progress.append,
    )
    await link.open()  # nothing listens: no error, a notice
    assert link.patient
    assert not link.connected
    assert "cannot reach the gateway" in notices[0]
    conversation = Conversation(
        link,
        ToolExecutor(Workspace(str(workspace))),
        FlagDecider(),
        RichView(out.console, info.console),
    )
    turn = asyncio.ensure_future(conversation.say("typed while the gateway was down"))
    await until(lambda: sum("attempt" in line for line in progress) >= 2)  # attempts fail meanwhile
    assert not turn.done()
    async with FakeGateway(answer, port=port) as gateway:
        finished = await asyncio.wait_for(turn, 10)
        await link.close()

    assert finished.reply == "finally"
    assert [f["content"] for f in gateway.received_of("user_message")] == ["typed while the gateway was down"]
    assert any("reconnecting" in line and "attempt" in line for line in progress)
    assert "reconnected" in notices


async def test_stopping_the_wait_for_the_runtime_gives_back_the_message(
    workspace: Path, out: CapturedConsole, info: CapturedConsole
) -> None:
    async with FakeGateway(runtime_down_for(100)) as gateway:  # type: ignore[arg-type]
        link = SessionLink(gateway.url, "new_1", policy=ReconnectPolicy(attempts=None, initial_delay=0.05))
        await link.open()
        view = RichView(out.console, info.console)
        conversation = Conversation(link, ToolExecutor(Workspace(str(workspace))), FlagDecider(), view)
        await conversation.say("first")
        waiting = asyncio.ensure_future(conversation.say("second"))
        await until(lambda: conversation.resending)  # cancelled in one of the waits between attempts
        assert conversation.resending
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
        await link.close()

    assert conversation.abandon() == ["second"]


async def test_stopping_the_wait_gives_back_the_message_not_sent(workspace: Path) -> None:
    link = SessionLink(f"ws://127.0.0.1:{free_port()}", "new_1", policy=ReconnectPolicy(attempts=None))
    await link.open()
    conversation = Conversation(
        link,
        ToolExecutor(Workspace(str(workspace))),
        FlagDecider(),
        RichView(CapturedConsole().console, CapturedConsole().console),
    )
    waiting = asyncio.ensure_future(conversation.say("keep me"))
    await asyncio.sleep(0.3)
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    assert conversation.abandon() == ["keep me"]
    assert conversation.abandon() == []  # forgotten: it does not go out with the next message


async def test_an_error_that_arrived_between_exchanges_is_shown_not_taken_for_the_next_answer(
    workspace: Path, out: CapturedConsole, info: CapturedConsole
) -> None:
    async def script(session: FakeSession, frame: Frame) -> None:
        await session.say(f"answer to {frame['content']}")
        await session.done()
        if frame["content"] == "first":  # then, while nobody is reading, a follow-up stream breaks
            await session.control("error", content="agent runtime stream interrupted", error="interrupted")

    async with FakeGateway(script) as gateway:
        link = SessionLink(gateway.url, "new_1", policy=ReconnectPolicy(attempts=2, initial_delay=0.01))
        await link.open()
        view = RichView(out.console, info.console)
        conversation = Conversation(link, ToolExecutor(Workspace(str(workspace))), FlagDecider(), view)
        await conversation.say("first")
        await asyncio.sleep(0.2)  # the error is in the socket before the next message goes
        second = await conversation.say("second")
        await link.close()

    assert second.ok, second.errors
    assert second.reply == "answer to second"
    assert "error: agent runtime stream interrupted" in info.text


async def test_a_broken_follow_up_does_not_end_the_exchange(
    workspace: Path, out: CapturedConsole, info: CapturedConsole
) -> None:
    async def script(session: FakeSession, frame: Frame) -> None:
        # The gateway's follow-up of the resumed session breaks while this message's own stream goes on.
        await session.control("error", content="stream interrupted", error="x", metadata={"code": "follow_failed"})
        await session.say(f"answer to {frame['content']}")
        await session.done()

    async with FakeGateway(script) as gateway:
        link = SessionLink(gateway.url, "new_1", policy=ReconnectPolicy(attempts=2, initial_delay=0.01))
        await link.open()
        view = RichView(out.console, info.console)
        conversation = Conversation(link, ToolExecutor(Workspace(str(workspace))), FlagDecider(), view)
        turn = await conversation.say("first")
        await link.close()

    assert turn.reply == "answer to first"
    assert turn.stop_reasons == ["completed"]
    assert "error: stream interrupted" in info.text
