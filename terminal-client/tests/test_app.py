"""``app.run`` end to end against a fake v2 gateway: streaming, tools, approvals, plans, errors."""

from __future__ import annotations

from pathlib import Path

import orjson

from codelab_chat.app import run
from codelab_chat.decisions import REJECTED_BY_FLAGS, ToolDecision
from fake_gateway import FakeGateway, FakeSession, Frame
from harness import CapturedConsole, options_for

REPLY = "Hello, **world**! This reply streams in pieces."


async def reply_once(session: FakeSession, frame: Frame) -> None:
    await session.say(REPLY, pieces=5)
    await session.done()


async def test_reply_is_streamed_and_printed_exactly_once(
    workspace: Path, out: CapturedConsole, info: CapturedConsole
) -> None:
    async with FakeGateway(reply_once) as gateway:
        transcript = await run("hi", options_for(gateway.url, workspace), out=out.console, info=info.console)

    assert transcript.ok
    assert transcript.reply == REPLY
    assert out.text == REPLY + "\n"
    assert transcript.session_id == "s1"
    assert transcript.turns[0].usage == {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
    assert "completed" in info.text


async def test_the_first_connection_uses_a_new_id_and_the_v2_dialect(
    workspace: Path, out: CapturedConsole, info: CapturedConsole
) -> None:
    async with FakeGateway(reply_once) as gateway:
        await run("hi", options_for(gateway.url, workspace, agent="coder"), out=out.console, info=info.console)

    assert gateway.paths[0].startswith("/api/v1/ws/new_")
    [message] = gateway.received_of("user_message")
    assert message["content"] == "hi"
    assert message["agent_type"] == "coder"
    assert message["client_message_id"]


async def test_session_option_continues_that_session(
    workspace: Path, out: CapturedConsole, info: CapturedConsole
) -> None:
    async with FakeGateway(reply_once) as gateway:
        first = await run("one", options_for(gateway.url, workspace), out=out.console, info=info.console)
        second = await run(
            "two", options_for(gateway.url, workspace, session=first.session_id), out=out.console, info=info.console
        )

    assert gateway.paths[1] == "/api/v1/ws/s1"
    assert second.session_id == "s1"
    assert second.reply == REPLY
    assert len(gateway.sessions) == 1


async def read_then_answer(session: FakeSession, frame: Frame) -> None:
    if frame["type"] == "user_message":
        await session.emit(
            "tool_call", call_id="c1", tool_name="read_file", arguments={"path": "notes.txt"}, requires_approval=False
        )
        await session.done("tool_call")
    elif frame["type"] == "tool_result":
        await session.say("The notes say: " + frame["result"]["content"])
        await session.done()


async def test_tool_calls_run_in_the_workspace_and_the_result_goes_back(
    workspace: Path, out: CapturedConsole, info: CapturedConsole
) -> None:
    (workspace / "notes.txt").write_text("buy milk", encoding="utf-8")
    async with FakeGateway(read_then_answer) as gateway:
        transcript = await run("read it", options_for(gateway.url, workspace), out=out.console, info=info.console)

    [result] = gateway.received_of("tool_result")
    assert result == {
        "type": "tool_result",
        "call_id": "c1",
        "tool_name": "read_file",
        "result": {"success": True, "content": "buy milk", "lines_read": 1},
    }
    assert transcript.reply == "The notes say: buy milk"
    assert transcript.ok


async def unknown_tool(session: FakeSession, frame: Frame) -> None:
    if frame["type"] == "user_message":
        await session.emit(
            "tool_call", call_id="c9", tool_name="delete_universe", arguments={}, requires_approval=False
        )
        await session.done("tool_call")
    else:
        await session.say("ok")
        await session.done()


async def test_an_unknown_tool_is_answered_with_an_error(
    workspace: Path, out: CapturedConsole, info: CapturedConsole
) -> None:
    async with FakeGateway(unknown_tool) as gateway:
        await run("go", options_for(gateway.url, workspace), out=out.console, info=info.console)

    [result] = gateway.received_of("tool_result")
    assert result["error"] == "Unsupported tool: delete_universe"
    assert "result" not in result


async def gated_write(session: FakeSession, frame: Frame) -> None:
    if frame["type"] == "user_message":
        arguments = {"path": "out.txt", "content": "written"}
        await session.emit(
            "tool_call", call_id="w1", tool_name="write_file", arguments=arguments, requires_approval=True
        )
        await session.done("approval")
    elif frame["type"] == "hitl_decision" and frame["decision"] == "reject":
        await session.say("Understood, not writing.")
        await session.done()
    elif frame["type"] == "hitl_decision":
        await session.done("tool_call")
    elif frame["type"] == "tool_result":
        await session.say("Written.")
        await session.done()


async def test_auto_approve_sends_the_decision_then_the_result(
    workspace: Path, out: CapturedConsole, info: CapturedConsole
) -> None:
    async with FakeGateway(gated_write) as gateway:
        options = options_for(gateway.url, workspace, auto_approve=True)
        transcript = await run("write", options, out=out.console, info=info.console)

    kinds = [frame["type"] for frame in gateway.received]
    assert kinds == ["user_message", "hitl_decision", "tool_result"]
    assert gateway.received_of("hitl_decision")[0] == {"type": "hitl_decision", "call_id": "w1", "decision": "approve"}
    assert (workspace / "out.txt").read_text(encoding="utf-8") == "written"
    assert transcript.reply == "Written."
    assert transcript.turns[0].tool_runs[0].decision == "approve"


async def test_without_approval_flags_a_gated_call_is_rejected_with_feedback(
    workspace: Path, out: CapturedConsole, info: CapturedConsole
) -> None:
    async with FakeGateway(gated_write) as gateway:
        transcript = await run("write", options_for(gateway.url, workspace), out=out.console, info=info.console)

    [decision] = gateway.received_of("hitl_decision")
    assert decision["decision"] == "reject"
    assert decision["feedback"] == REJECTED_BY_FLAGS
    assert gateway.received_of("tool_result") == []
    assert not (workspace / "out.txt").exists()
    assert transcript.reply == "Understood, not writing."


class EditingDecider:
    async def decide_tool(self, call: Frame) -> ToolDecision:
        return ToolDecision("edit", arguments={**call["arguments"], "content": "edited"})

    async def decide_plan(self, plan: Frame) -> object:
        raise AssertionError("no plan expected")


async def test_edited_arguments_are_sent_and_used_for_the_call(
    workspace: Path, out: CapturedConsole, info: CapturedConsole
) -> None:
    async with FakeGateway(gated_write) as gateway:
        options = options_for(gateway.url, workspace)
        await run("write", options, out=out.console, info=info.console, decider=EditingDecider())  # type: ignore[arg-type]

    [decision] = gateway.received_of("hitl_decision")
    assert decision["decision"] == "edit"
    assert decision["modified_arguments"] == {"path": "out.txt", "content": "edited"}
    assert (workspace / "out.txt").read_text(encoding="utf-8") == "edited"


async def planned(session: FakeSession, frame: Frame) -> None:
    if frame["type"] == "user_message":
        summary = {"goal": "Ship it", "subtasks_count": 2, "total_estimated_time": "5m", "subtasks": [{"title": "a"}]}
        await session.emit(
            "plan_approval_required", approval_request_id="ar1", plan_id="p1", plan_summary=summary, content="Plan"
        )
        await session.done("plan_approval")
    elif frame["decision"] == "approve":
        await session.emit("plan_progress", plan_id="p1", content="step a", metadata={"status": "done"})
        await session.say("Plan finished.")
        await session.done()
    else:
        await session.say("Plan dropped.")
        await session.done()


async def test_plans_are_approved_with_the_flag_and_ids_are_copied(
    workspace: Path, out: CapturedConsole, info: CapturedConsole
) -> None:
    async with FakeGateway(planned) as gateway:
        options = options_for(gateway.url, workspace, approve_plans=True)
        transcript = await run("plan", options, out=out.console, info=info.console)

    [decision] = gateway.received_of("plan_decision")
    assert decision == {"type": "plan_decision", "approval_request_id": "ar1", "plan_id": "p1", "decision": "approve"}
    assert transcript.reply == "Plan finished."
    assert "Ship it" in info.text
    assert "step a" in info.text


async def test_plans_are_rejected_without_the_flag(
    workspace: Path, out: CapturedConsole, info: CapturedConsole
) -> None:
    async with FakeGateway(planned) as gateway:
        transcript = await run("plan", options_for(gateway.url, workspace), out=out.console, info=info.console)

    assert gateway.received_of("plan_decision")[0]["decision"] == "reject"
    assert transcript.reply == "Plan dropped."


async def failing(session: FakeSession, frame: Frame) -> None:
    await session.emit("error", content="model unavailable", error="model unavailable", metadata={"code": "upstream"})
    await session.done("error")


async def test_an_error_frame_fails_the_turn(workspace: Path, out: CapturedConsole, info: CapturedConsole) -> None:
    async with FakeGateway(failing) as gateway:
        transcript = await run("hi", options_for(gateway.url, workspace), out=out.console, info=info.console)

    assert not transcript.ok
    assert transcript.turns[0].errors == ["model unavailable"]
    assert "model unavailable" in info.text


async def test_json_mode_prints_every_frame_as_one_json_line(
    workspace: Path, out: CapturedConsole, info: CapturedConsole
) -> None:
    async with FakeGateway(reply_once) as gateway:
        await run("hi", options_for(gateway.url, workspace, json=True), out=out.console, info=info.console)

    frames = [orjson.loads(line) for line in out.text.splitlines()]
    assert [frame["seq"] for frame in frames] == list(range(1, len(frames) + 1))
    assert frames[0]["type"] == "session_info"
    assert frames[-1]["type"] == "done"
    assert "".join(frame.get("token", "") for frame in frames) == REPLY


async def test_the_token_is_sent_as_a_bearer_header(
    workspace: Path, out: CapturedConsole, info: CapturedConsole
) -> None:
    async with FakeGateway(reply_once, require_token="s3cret") as gateway:
        refused = await run("hi", options_for(gateway.url, workspace), out=out.console, info=info.console)
        accepted = await run(
            "hi", options_for(gateway.url, workspace, token="s3cret"), out=out.console, info=info.console
        )

    assert not refused.ok
    assert "HTTP 401" in refused.turns[0].errors[0]
    assert "s3cret" not in refused.turns[0].errors[0]
    assert accepted.ok
    assert gateway.authorizations == [None, "Bearer s3cret"]


async def test_an_unreachable_gateway_fails_without_hanging(
    workspace: Path, out: CapturedConsole, info: CapturedConsole
) -> None:
    async with FakeGateway(reply_once) as gateway:
        url = gateway.url
    transcript = await run("hi", options_for(url, workspace), out=out.console, info=info.console)

    assert not transcript.ok
    assert transcript.turns[0].fatal
    assert "cannot reach the gateway" in transcript.turns[0].errors[0]
