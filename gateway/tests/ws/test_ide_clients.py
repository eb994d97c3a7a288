"""The two real IDE client generations, scripted from the reference: every frame they get must render."""

from __future__ import annotations

import orjson
from fake_runtime import FakeRuntime
from ide_client import IdeClient
from websockets.asyncio.client import connect

from conftest import RunningGateway
from gateway.ws.frames import IDE_TOOLS


async def test_client_a_runs_a_conversation_with_a_tool_call_and_an_approval(
    gateway: RunningGateway, runtime: FakeRuntime
) -> None:
    async with gateway.client() as http:
        created = (await http.post("/api/v1/sessions")).json()
    assert isinstance(created["id"], str)
    assert isinstance(created["message_count"], int)
    session_id = created["id"]

    async with connect(gateway.ws(f"/api/v1/ws/{session_id}")) as ws:
        ide = IdeClient(ws, "A")
        await ide.send(type="user_message", content="please open main.dart and read it", role="user")
        assert (await ide.next_bubble()).text == "Let me look at the file."
        call = await ide.until("tool_call")
        assert call.frame["arguments"] == {"path": "lib/main.dart", "start_line": 1}
        assert call.frame["requires_approval"] is False
        result = {"success": True, "content": "void main() {}", "lines_read": 1}
        await ide.send(type="tool_result", call_id=call.frame["call_id"], tool_name="read_file", result=result)
        assert (await ide.until("assistant_message")).text == "The read_file call succeeded."

        await ide.send(type="user_message", content="now write the docs", role="user")
        gated = await ide.until("tool_call")
        assert gated.frame["requires_approval"] is True
        # The IDE answers an approval-gated call with a tool_result: a rejection is an error string.
        await ide.send(
            type="tool_result",
            call_id=gated.frame["call_id"],
            tool_name="write_file",
            error="Операция отклонена: write_file",
        )
        reply = await ide.until("assistant_message")
        assert reply.text == "The write_file call failed: Операция отклонена: write_file."

    kinds = [b.kind for b in ide.bubbles]
    assert "session_info" not in kinds
    assert kinds.count("assistant_message") == 4  # one bubble per reply, never one per token

    async with gateway.client() as http:
        history = (await http.get(f"/api/v1/sessions/{session_id}/history")).json()
        pending = (await http.get(f"/api/v1/sessions/{session_id}/pending-approvals")).json()
    assert history["session_id"] == session_id
    assert isinstance(history["message_count"], int)
    assert [m["role"] for m in history["messages"]][:2] == ["user", "assistant"]
    assert pending == {"session_id": session_id, "pending_approvals": [], "count": 0}


async def test_client_a_restores_an_approval_through_pending_approvals(
    gateway: RunningGateway, runtime: FakeRuntime
) -> None:
    async with gateway.client() as http:
        session_id = (await http.post("/api/v1/sessions")).json()["id"]
    async with connect(gateway.ws(f"/api/v1/ws/{session_id}")) as ws:
        ide = IdeClient(ws, "A")
        await ide.send(type="user_message", content="write the docs", role="user")
        gated = await ide.until("tool_call")
    async with gateway.client() as http:
        pending = (await http.get(f"/api/v1/sessions/{session_id}/pending-approvals")).json()
    assert pending["count"] == 1
    item = pending["pending_approvals"][0]
    assert item["call_id"] == gated.frame["call_id"]
    assert isinstance(item["tool_name"], str)
    assert isinstance(item["arguments"], dict)
    assert isinstance(item["created_at"], str)

    async with connect(gateway.ws(f"/api/v1/ws/{session_id}")) as ws:
        ide = IdeClient(ws, "A")
        # The approval-gated call is not re-sent (the IDE restores it itself): the next frame is the answer.
        await ide.send(type="tool_result", call_id=item["call_id"], tool_name="write_file", result={"success": True})
        assert (await ide.next_bubble()).text == "The write_file call succeeded."


async def test_client_a_reconnecting_gets_its_unanswered_tool_call_again(
    gateway: RunningGateway, runtime: FakeRuntime
) -> None:
    async with gateway.client() as http:
        session_id = (await http.post("/api/v1/sessions")).json()["id"]
    async with connect(gateway.ws(f"/ws/{session_id}")) as ws:
        ide = IdeClient(ws, "A")
        await ide.send(type="user_message", content="read the pubspec", role="user")
        first = await ide.until("tool_call")

    async with connect(gateway.ws(f"/ws/{session_id}")) as ws:
        ide = IdeClient(ws, "A")
        again = await ide.next_bubble()
        assert again.kind == "tool_call"
        assert again.frame["call_id"] == first.frame["call_id"]
        assert again.frame["arguments"] == first.frame["arguments"]
        await ide.send(type="tool_result", call_id=first.frame["call_id"], tool_name="read_file", result={"ok": 1})
        assert (await ide.until("assistant_message")).text == "The read_file call succeeded."


async def test_client_b_learns_its_session_and_approves_a_plan(gateway: RunningGateway, runtime: FakeRuntime) -> None:
    async with connect(gateway.ws("/api/v1/ws/new_1700000000000")) as ws:
        ide = IdeClient(ws, "B", opened_new=True)
        await ide.send(type="user_message", content="make a plan for the login screen", role="user")
        switched = await ide.next_bubble()
        assert switched.kind == "agent_switched"
        assert switched.frame["metadata"]["to_agent"] == switched.frame["to_agent"] == "architect"
        assert ide.session_id is not None
        assert ide.session_id in runtime.sessions
        plan = await ide.until("plan_approval_required")
        await ide.send(
            type="plan_decision",
            approval_request_id=plan.frame["approval_request_id"],
            plan_id=plan.frame["plan_id"],
            decision="approve",
        )
        assert (await ide.next_bubble()).text == "UI: done"
        assert (await ide.until("assistant_message")).text == "The plan is done."

        await ide.send(type="user_message", content="thanks", role="user")
        assert (await ide.until("assistant_message")).text == "Echo: thanks"

    # Later frames on the socket named the real session, not the new_* placeholder.
    assert [r["session_id"] for r in runtime.received] == [None, ide.session_id, ide.session_id]
    assert runtime.received[1]["message"] == {
        "type": "plan_decision",
        "approval_request_id": "apr-1",
        "plan_id": "plan-1",
        "decision": "approve",
        "client_tools": list(IDE_TOOLS),  # the IDE's six, said on every frame
    }


async def test_client_b_sees_a_runtime_error_as_a_red_bubble_and_keeps_the_socket(
    gateway: RunningGateway, runtime: FakeRuntime
) -> None:
    async with connect(gateway.ws("/api/v1/ws/new_1")) as ws:
        ide = IdeClient(ws, "B", opened_new=True)
        await ide.send(type="user_message", content="this will fail", role="user")
        error = await ide.until("error")
        assert error.text == "the model is unavailable"
        await ide.send(type="user_message", content="again", role="user")
        assert (await ide.until("assistant_message")).text == "Echo: again"
        assert orjson.loads(orjson.dumps(error.frame))["type"] == "error"


async def test_client_b_sending_during_a_turn_gets_both_replies_as_one_bubble_each(
    gateway: RunningGateway, runtime: FakeRuntime
) -> None:
    runtime.agent.delay = 0.002
    async with connect(gateway.ws("/api/v1/ws/new_2")) as ws:
        ide = IdeClient(ws, "B", opened_new=True)
        await ide.send(type="user_message", content="a long answer please", role="user")
        await ide.send(type="user_message", content="and then this", role="user")
        first = await ide.until("assistant_message")
        second = await ide.until("assistant_message")
    assert first.text.startswith("word0 word1")
    assert second.text == "Echo: and then this"
    assert [b.kind for b in ide.bubbles] == ["assistant_message", "assistant_message"]
