"""Prompt turns against the fake runtime with the official SDK's client over the real server: tools the client
cannot run, permission answers (including a cancelled question), errors, plans, the extension that resumes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from acp import PROTOCOL_VERSION, RequestError, connect_to_agent, text_block
from acp.core import ClientSideConnection
from acp.schema import (
    ClientCapabilities,
    FileSystemCapabilities,
    ReadTextFileResponse,
    RequestPermissionResponse,
    WriteTextFileResponse,
)
from acp.ws import create_websocket_stream
from fake_runtime import FakeRuntime

from conftest import RunningGateway

CWD = "/home/ada/project"


class ScriptedClient:
    """Files from a dict, permission answers from a list; everything recorded."""

    def __init__(self, choices: list[str] | None = None) -> None:
        self.choices = list(choices or [])
        self.updates: list[Any] = []
        self.files = {f"{CWD}/lib/main.dart": "void main() {}\n"}
        self.written: dict[str, str] = {}
        self.asked: list[Any] = []

    async def session_update(self, session_id: str, update: Any, **kwargs: Any) -> None:
        self.updates.append(update)

    async def request_permission(self, options: list[Any], session_id: str, tool_call: Any, **kwargs: Any) -> Any:
        self.asked.append(tool_call)
        choice = self.choices.pop(0)
        outcome = {"outcome": "cancelled"} if choice == "cancelled" else {"outcome": "selected", "optionId": choice}
        return RequestPermissionResponse.model_validate({"outcome": outcome})

    async def read_text_file(self, path: str, session_id: str, **kwargs: Any) -> ReadTextFileResponse:
        if path not in self.files:
            raise RequestError.resource_not_found(path)
        return ReadTextFileResponse(content=self.files[path])

    async def write_text_file(self, content: str, path: str, session_id: str, **kwargs: Any) -> WriteTextFileResponse:
        self.written[path] = content
        return WriteTextFileResponse()

    def kinds(self) -> list[str]:
        return [u.session_update for u in self.updates]

    def text(self) -> str:
        return "".join(u.content.text for u in self.updates if u.session_update == "agent_message_chunk")

    def statuses(self) -> list[str]:
        return [u.status for u in self.updates if u.session_update in ("tool_call", "tool_call_update") and u.status]


@pytest.fixture
async def acp(gateway: RunningGateway) -> AsyncIterator[tuple[ScriptedClient, ClientSideConnection, str]]:
    client = ScriptedClient()
    transport = await create_websocket_stream(gateway.ws("/acp"))
    connection = connect_to_agent(client, transport)
    try:
        async with asyncio.timeout(30):
            fs = FileSystemCapabilities(read_text_file=True, write_text_file=True)
            await connection.initialize(
                protocol_version=PROTOCOL_VERSION, client_capabilities=ClientCapabilities(fs=fs)
            )
            session = await connection.new_session(cwd=CWD, mcp_servers=[])
            yield client, connection, session.session_id
    finally:
        await connection.close()


async def prompt(connection: ClientSideConnection, session_id: str, text: str) -> str:
    answer = await connection.prompt(session_id=session_id, prompt=[text_block(text)])
    return str(answer.stop_reason)


async def test_a_read_runs_on_the_client_and_its_result_goes_back(
    acp: tuple[ScriptedClient, ClientSideConnection, str], runtime: FakeRuntime
) -> None:
    client, connection, session = acp
    assert await prompt(connection, session, "read the file") == "end_turn"
    result = next(r["message"] for r in runtime.received if r["message"]["type"] == "tool_result")
    assert result["result"] == {"success": True, "content": "void main() {}\n", "lines_read": 1}
    assert result["client_tools"] == ["read_file", "write_file"]  # no terminal: no commands offered
    assert client.statuses() == ["pending", "in_progress", "completed"]
    assert client.text().endswith("The read_file call succeeded.")


async def test_a_client_error_becomes_the_tools_error_for_the_model(
    acp: tuple[ScriptedClient, ClientSideConnection, str], runtime: FakeRuntime
) -> None:
    client, connection, session = acp
    client.files.clear()
    assert await prompt(connection, session, "read the file") == "end_turn"
    result = next(r["message"] for r in runtime.received if r["message"]["type"] == "tool_result")
    assert "read_file failed on the client" in result["error"]
    assert client.statuses()[-1] == "failed"


async def test_allow_runs_the_gated_write_and_reject_never_calls_the_client(
    acp: tuple[ScriptedClient, ClientSideConnection, str], runtime: FakeRuntime
) -> None:
    client, connection, session = acp
    client.choices = ["allow_once", "reject_once"]
    assert await prompt(connection, session, "write the docs") == "end_turn"
    assert client.written == {f"{CWD}/README.md": "# hi\n"}
    [diff] = [c for c in client.asked[0].content if c.type == "diff"]
    assert (diff.path, diff.old_text, diff.new_text) == (f"{CWD}/README.md", None, "# hi\n")
    assert await prompt(connection, session, "write it again") == "end_turn"
    assert len(client.written) == 1
    decisions = [r["message"] for r in runtime.received if r["message"]["type"] == "hitl_decision"]
    assert [(d["decision"]) for d in decisions] == ["reject"]


async def test_a_cancelled_question_cancels_the_turn(
    acp: tuple[ScriptedClient, ClientSideConnection, str], runtime: FakeRuntime
) -> None:
    client, connection, session = acp
    client.choices = ["cancelled"]
    assert await prompt(connection, session, "write the docs") == "cancelled"
    assert client.written == {}
    assert runtime.received[-1]["message"]["type"] == "cancel"


async def test_an_error_is_shown_as_text_and_ends_the_turn(
    acp: tuple[ScriptedClient, ClientSideConnection, str],
) -> None:
    client, connection, session = acp
    assert await prompt(connection, session, "fail please") == "end_turn"
    assert "the model is unavailable" in client.text()


async def test_a_model_cut_off_at_its_token_limit_or_by_the_provider_ends_with_max_tokens_or_refusal(
    acp: tuple[ScriptedClient, ClientSideConnection, str],
) -> None:
    client, connection, session = acp
    assert await prompt(connection, session, "cut off please") == "max_tokens"
    assert await prompt(connection, session, "cut off by the filter") == "refusal"
    assert await prompt(connection, session, "and now a normal end") == "end_turn"
    assert client.text().startswith("The answer stops in the middle of")


async def test_a_plan_is_approved_and_its_progress_updates_the_plan(
    acp: tuple[ScriptedClient, ClientSideConnection, str], runtime: FakeRuntime
) -> None:
    client, connection, session = acp
    client.choices = ["allow_once"]
    assert await prompt(connection, session, "make a plan") == "end_turn"
    assert client.asked[0].title == "Plan: Add a login screen"
    assert "current_mode_update" in client.kinds()
    assert client.kinds().count("plan") >= 1
    decision = next(r["message"] for r in runtime.received if r["message"]["type"] == "plan_decision")
    assert (decision["approval_request_id"], decision["plan_id"], decision["decision"]) == (
        "apr-1",
        "plan-1",
        "approve",
    )
    assert client.text().endswith("The plan is done.")


async def test_a_second_prompt_while_one_runs_is_refused(
    acp: tuple[ScriptedClient, ClientSideConnection, str], runtime: FakeRuntime
) -> None:
    client, connection, session = acp
    runtime.agent.delay = 0.01
    first = asyncio.create_task(prompt(connection, session, "a long one"))
    while not client.text():
        await asyncio.sleep(0.01)
    with pytest.raises(RequestError) as raised:
        await prompt(connection, session, "me too")
    assert raised.value.code == -32600
    assert await first == "end_turn"


async def test_resuming_on_a_new_connection_follows_the_log_after_the_last_seq(
    acp: tuple[ScriptedClient, ClientSideConnection, str], gateway: RunningGateway
) -> None:
    client, connection, session = acp
    assert await prompt(connection, session, "tell me something") == "end_turn"
    later = ScriptedClient()
    second = connect_to_agent(later, await create_websocket_stream(gateway.ws("/acp")))
    try:
        async with asyncio.timeout(30):
            await second.initialize(protocol_version=PROTOCOL_VERSION)
            await second.resume_session(session_id=session, cwd=CWD)
            answer = await second.ext_method("codelab/prompt_resume", {"sessionId": session, "lastSeq": 0})
    finally:
        await second.close()
    assert answer == {"stopReason": "end_turn"}  # the finished turn, followed in its log, ends the same way
    assert later.text() == client.text() == "Echo: tell me something"


async def test_a_resumed_prompt_that_waits_on_the_log_is_cancelled_at_once(
    acp: tuple[ScriptedClient, ClientSideConnection, str], gateway: RunningGateway, runtime: FakeRuntime
) -> None:
    _client, connection, session = acp
    assert await prompt(connection, session, "tell me something") == "end_turn"
    last = runtime.sessions[session].next_seq - 1  # nothing after it: the follower only waits
    second = connect_to_agent(ScriptedClient(), await create_websocket_stream(gateway.ws("/acp")))
    try:
        async with asyncio.timeout(30):
            await second.initialize(protocol_version=PROTOCOL_VERSION)
            await second.resume_session(session_id=session, cwd=CWD)
            waiting = asyncio.create_task(
                second.ext_method("codelab/prompt_resume", {"sessionId": session, "lastSeq": last})
            )
            while not waiting.done():  # a cancel that arrives before the prompt is ignored, as ACP says: send again
                await second.cancel(session_id=session)
                await asyncio.wait({waiting}, timeout=0.05)
            assert waiting.result() == {"stopReason": "cancelled"}
    finally:
        await second.close()
