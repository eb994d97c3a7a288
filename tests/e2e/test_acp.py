"""ACP end to end: the official SDK's client against the three real services (mock model), with a real workspace
folder and real processes for the terminal; every flow twice, over the gateway's WebSocket and through
``codelab-acp`` (the stdio bridge an editor launches) as a subprocess."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from acp import RequestError, embedded_text_resource, image_block, resource_block, resource_link_block, text_block
from acp.core import ClientSideConnection
from acp.schema import CurrentModeUpdate, ToolCallProgress, ToolCallStart, UserMessageChunk
from websockets.asyncio.client import connect

from tests.e2e.acp_client import WorkspaceClient, connected, initialized
from tests.e2e.system import System, start_gateway

LIMIT = 60  # seconds any one test may take


def acp_url(system: System, path: str = "/acp") -> str:
    return f"ws://127.0.0.1:{system.gateway.port}{path}"


def history(system: System, session_id: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{system.gateway.url}/api/v1/sessions/{session_id}/history", timeout=10) as answer:
        return json.loads(answer.read())["messages"]  # type: ignore[no-any-return]


def tool_results(system: System, session_id: str) -> list[str]:
    return [str(m["content"]) for m in history(system, session_id) if m["role"] == "tool"]


class Editor:
    """One connected, initialized client with a session in ``workspace``."""

    def __init__(self, client: WorkspaceClient, connection: ClientSideConnection, session_id: str) -> None:
        self.client = client
        self.connection = connection
        self.session_id = session_id

    async def prompt(self, text: str) -> str:
        answer = await self.connection.prompt(session_id=self.session_id, prompt=[text_block(text)])
        return str(answer.stop_reason)

    async def mode(self, mode_id: str) -> None:
        await self.connection.set_session_mode(session_id=self.session_id, mode_id=mode_id)

    def tool_updates(self) -> list[Any]:
        return [u for _s, u in self.client.updates if isinstance(u, ToolCallStart | ToolCallProgress)]

    def final_status(self, tool_call_id: str) -> str | None:
        statuses = [u.status for u in self.tool_updates() if u.tool_call_id == tool_call_id and u.status]
        return statuses[-1] if statuses else None


@pytest.fixture(params=["websocket", "bridge"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def editor(system: System, tmp_path: Path, transport: str) -> AsyncIterator[Editor]:
    client = WorkspaceClient(tmp_path)
    async with asyncio.timeout(LIMIT), connected(transport, system.gateway.port, client) as connection:
        await initialized(connection)
        session = await connection.new_session(cwd=str(tmp_path), mcp_servers=[])
        yield Editor(client, connection, session.session_id)


async def test_initialize_and_session_new_offer_the_runtimes_agents_as_modes(
    system: System, tmp_path: Path, transport: str
) -> None:
    client = WorkspaceClient(tmp_path)
    async with asyncio.timeout(LIMIT), connected(transport, system.gateway.port, client, "/acp/ws") as connection:
        answer = await initialized(connection)
        assert answer.protocol_version == 1
        assert answer.agent_capabilities.load_session is True
        assert answer.auth_methods == []
        session = await connection.new_session(cwd=str(tmp_path), mcp_servers=[])
    assert session.modes is not None
    with urllib.request.urlopen(f"{system.gateway.url}/api/v1/agents", timeout=10) as listed:
        agents = [a["id"] for a in json.loads(listed.read())["agents"]]
    assert [m.id for m in session.modes.available_modes] == agents
    assert session.modes.current_mode_id in agents


async def test_a_prompt_streams_the_reply_in_chunks_and_ends_the_turn(editor: Editor) -> None:
    assert await editor.prompt("hello from an editor") == "end_turn"
    chunks = [u for _s, u in editor.client.updates if u.session_update == "agent_message_chunk"]
    assert len(chunks) > 1  # streamed, not one final message
    assert editor.client.text() == "hello from an editor"


async def test_a_file_link_and_an_embedded_text_resource_reach_the_model_as_text(
    editor: Editor, system: System, tmp_path: Path
) -> None:
    await editor.mode("ask")
    link = resource_link_block("app.py", (tmp_path / "src" / "app.py").as_uri())
    notes = resource_block(embedded_text_resource((tmp_path / "notes.md").as_uri(), "remember the milk"))
    blocks = [text_block("explain "), link, notes]
    answer = await editor.connection.prompt(session_id=editor.session_id, prompt=blocks)
    assert answer.stop_reason == "end_turn"
    [asked] = [m["content"] for m in history(system, editor.session_id) if m["role"] == "user"]
    assert asked == 'explain @src/app.py\n\n<context uri="notes.md">\nremember the milk\n</context>'
    with pytest.raises(RequestError) as raised:  # the runtime's messages are text: images are refused by name
        await editor.connection.prompt(session_id=editor.session_id, prompt=[image_block("AAAA", "image/png")])
    assert raised.value.code == -32602
    assert "image" in str(raised.value)


async def test_session_list_pages_through_the_sessions_with_their_titles(
    editor: Editor, system: System, tmp_path: Path
) -> None:
    for _ in range(51):  # more than one page (50), whatever ran before
        created = urllib.request.Request(f"{system.gateway.url}/api/v1/sessions", data=b"{}", method="POST")
        created.add_header("Content-Type", "application/json")
        urllib.request.urlopen(created, timeout=10).close()
    await editor.mode("ask")
    assert await editor.prompt("a session worth listing") == "end_turn"
    pages = 0
    seen: list[Any] = []
    cursor: str | None = None
    while True:
        page = await editor.connection.list_sessions(cwd=str(tmp_path), cursor=cursor)
        seen += page.sessions
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    ids = [s.session_id for s in seen]
    assert pages >= 2
    assert len(ids) == len(set(ids))  # pages do not overlap
    [mine] = [s for s in seen if s.session_id == editor.session_id]
    assert (mine.title, mine.cwd) == ("a session worth listing", str(tmp_path))


async def test_read_file_is_served_by_the_client_with_an_absolute_path(
    editor: Editor, system: System, tmp_path: Path
) -> None:
    (tmp_path / "notes.txt").write_text("line one\nline two\n")
    await editor.mode("coder")
    assert await editor.prompt('[[tool:read_file {"path": "notes.txt"}]] [[2:text:I read it]]') == "end_turn"
    assert editor.client.requests[0] == (
        "fs/read_text_file",
        {"path": str(tmp_path / "notes.txt"), "line": None, "limit": None},
    )
    [start] = [u for u in editor.tool_updates() if isinstance(u, ToolCallStart)]
    assert (start.kind, start.title) == ("read", "Read notes.txt")
    assert [loc.path for loc in start.locations or []] == [str(tmp_path / "notes.txt")]
    assert editor.final_status(start.tool_call_id) == "completed"
    assert editor.client.text().endswith("I read it")
    assert '"content":"line one\\nline two\\n"' in tool_results(system, editor.session_id)[0]


async def test_a_write_asks_first_and_allow_once_writes_with_a_diff(editor: Editor, tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("old\n")
    editor.client.choices = ["allow_once"]
    await editor.mode("coder")
    script = '[[tool:write_file {"path": "README.md", "content": "new\\n"}]] [[2:text:written]]'
    assert await editor.prompt(script) == "end_turn"
    assert (tmp_path / "README.md").read_text() == "new\n"
    [(shown, options)] = editor.client.permission_requests
    assert options == ["allow_once", "allow_always", "reject_once", "reject_always"]
    [diff] = [c for c in shown.content or [] if c.type == "diff"]
    assert (diff.path, diff.old_text, diff.new_text) == (str(tmp_path / "README.md"), "old\n", "new\n")
    assert editor.final_status(shown.tool_call_id) == "completed"


async def test_a_rejected_write_leaves_the_workspace_as_it_was(editor: Editor, system: System, tmp_path: Path) -> None:
    editor.client.choices = ["reject_once"]
    await editor.mode("coder")
    script = '[[tool:write_file {"path": "nope.md", "content": "x"}]] [[2:text:understood]]'
    assert await editor.prompt(script) == "end_turn"
    assert not (tmp_path / "nope.md").exists()
    assert "fs/write_text_file" not in editor.client.methods()
    [(shown, _options)] = editor.client.permission_requests
    assert editor.final_status(shown.tool_call_id) == "failed"
    assert "rejected" in tool_results(system, editor.session_id)[0]
    assert editor.client.text().endswith("understood")


async def test_a_command_runs_in_the_clients_terminal_and_its_output_reaches_the_model(
    editor: Editor, system: System, tmp_path: Path
) -> None:
    await editor.mode("coder")
    assert await editor.prompt('[[tool:execute_command {"command": "echo from-the-terminal"}]]') == "end_turn"
    methods = editor.client.methods()
    assert methods == ["terminal/create", "terminal/wait_for_exit", "terminal/output", "terminal/release"]
    assert editor.client.requests[0][1] == {"command": "echo", "args": ["from-the-terminal"], "cwd": str(tmp_path)}
    [result] = tool_results(system, editor.session_id)
    assert json.loads(result)["stdout"] == "from-the-terminal\n"
    assert json.loads(result)["exit_code"] == 0
    shown = [u for u in editor.tool_updates() if any(getattr(c, "type", "") == "terminal" for c in u.content or [])]
    assert shown  # the terminal is embedded in the tool call, so the editor shows it live


async def test_list_search_and_mkdir_run_through_the_terminal(editor: Editor, system: System, tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("def main():\n    return 'needle'\n")
    (tmp_path / ".hidden").write_text("needle")
    (tmp_path / "src" / "credentials.json").write_text('{"token": "needle"}')  # secret files: never reported
    (tmp_path / "src" / "server.PEM").write_text("needle")
    editor.client.choices = ["allow_once"]
    await editor.mode("coder")
    script = (
        '[[tool:list_files {"path": ".", "recursive": true}]] [[2:tool:search_in_code {"query": "NEEDLE"}]] '
        '[[3:tool:create_directory {"path": "build/out"}]] [[4:text:done]]'
    )
    assert await editor.prompt(script) == "end_turn"
    listed, searched, created = (json.loads(r) for r in tool_results(system, editor.session_id))
    assert {(i["path"], i["type"]) for i in listed["items"]} == {("src", "directory"), ("src/app.py", "file")}
    assert [(m["file"], m["line"], m["column"]) for m in searched["matches"]] == [("src/app.py", 2, 13)]
    assert created == {"success": True, "path": "build/out", "created": True, "already_exists": False}
    assert (tmp_path / "build" / "out").is_dir()
    # The client skips secret files, so the recursive listing and the search ran unasked; only the mkdir asked.
    assert [call.title for call, _options in editor.client.permission_requests] == ["Create directory build/out"]


async def test_allow_always_covers_that_exact_command_and_nothing_else(editor: Editor, tmp_path: Path) -> None:
    editor.client.choices = ["allow_always", "reject_once"]
    await editor.mode("coder")
    assert await editor.prompt('[[tool:execute_command {"command": "touch one.txt"}]]') == "end_turn"
    assert await editor.prompt('[[tool:execute_command {"command": "touch one.txt"}]]') == "end_turn"
    assert len(editor.client.permission_requests) == 1  # the second run was covered by "always"
    assert await editor.prompt('[[tool:execute_command {"command": "touch two.txt"}]]') == "end_turn"
    assert len(editor.client.permission_requests) == 2  # another command asks again
    assert (tmp_path / "one.txt").exists()
    assert not (tmp_path / "two.txt").exists()


async def test_always_answers_are_kept_by_the_runtime_so_another_gateway_honours_them(
    editor: Editor, system: System, tmp_path: Path, transport: str
) -> None:
    editor.client.choices = ["allow_always", "reject_always"]
    await editor.mode("coder")
    assert await editor.prompt('[[tool:execute_command {"command": "touch kept.txt"}]]') == "end_turn"
    assert await editor.prompt('[[tool:execute_command {"command": "touch never.txt"}]] [[2:text:ok]]') == "end_turn"
    assert await editor.prompt('[[tool:execute_command {"command": "touch never.txt"}]] [[2:text:ok]]') == "end_turn"
    assert len(editor.client.permission_requests) == 2  # the second never.txt was refused without a question
    other = start_gateway(system, f"gateway-always-{transport}", {})
    try:
        second = WorkspaceClient(tmp_path)  # answers nothing: a question would be rejected once
        async with asyncio.timeout(LIMIT), connected(transport, other.port, second) as connection:
            await initialized(connection)
            await connection.load_session(session_id=editor.session_id, cwd=str(tmp_path), mcp_servers=[])
            for line in ("touch kept.txt", "touch never.txt"):
                script = f'[[tool:execute_command {{"command": "{line}"}}]] [[2:text:ok]]'
                answer = await connection.prompt(session_id=editor.session_id, prompt=[text_block(script)])
                assert answer.stop_reason == "end_turn"
    finally:
        other.stop()
    assert second.permission_requests == []  # neither asked on another gateway: one ran, the other was refused
    assert [params["args"] for method, params in second.requests if method == "terminal/create"] == [["kept.txt"]]
    refused = [u for _s, u in second.updates if getattr(u, "status", None) == "failed"]
    assert "execute_command(touch never.txt)" in str(refused[-1].content)
    assert not (tmp_path / "never.txt").exists()


async def test_a_compound_command_can_only_be_allowed_once(editor: Editor, tmp_path: Path) -> None:
    editor.client.choices = ["reject_once"]
    await editor.mode("coder")
    assert await editor.prompt('[[tool:execute_command {"command": "ls && touch x", "shell": true}]]') == "end_turn"
    [(_shown, options)] = editor.client.permission_requests
    assert options == ["allow_once", "reject_once"]
    assert not (tmp_path / "x").exists()


async def test_cancel_ends_the_running_prompt_with_cancelled(editor: Editor) -> None:
    await editor.mode("coder")  # no routing call first: the reply starts at once
    words = " ".join(f"w{n}" for n in range(400))
    prompt = asyncio.create_task(editor.prompt(f"[[delay_ms:20]] {words}"))
    while not editor.client.text():
        await asyncio.sleep(0.01)
    await editor.connection.cancel(session_id=editor.session_id)
    assert await prompt == "cancelled"
    assert len(editor.client.text()) < len(words)
    assert await editor.prompt("after the cancel") == "end_turn"  # the session goes on


async def test_set_mode_switches_the_agent_and_the_architect_still_writes_only_markdown(
    editor: Editor, tmp_path: Path
) -> None:
    await editor.mode("architect")
    modes = [u.current_mode_id for _s, u in editor.client.updates if isinstance(u, CurrentModeUpdate)]
    assert modes == ["architect"]
    editor.client.choices = ["allow_once"]
    script = (
        '[[tool:write_file {"path": "main.py", "content": "x = 1"}]] '
        '[[2:tool:write_file {"path": "design.md", "content": "# Design"}]] [[3:text:ok]]'
    )
    assert await editor.prompt(script) == "end_turn"
    assert not (tmp_path / "main.py").exists()
    assert (tmp_path / "design.md").read_text() == "# Design"
    writes = [params["path"] for method, params in editor.client.requests if method == "fs/write_text_file"]
    assert writes == [str(tmp_path / "design.md")]
    [refused] = [u for u in editor.tool_updates() if u.status == "failed"]  # tool_refused: shown with the reason
    assert [loc.path for loc in refused.locations or []] == [str(tmp_path / "main.py")]
    assert "Refused:" in refused.content[0].content.text


async def test_the_orchestrator_routing_a_prompt_is_a_mode_update(editor: Editor) -> None:
    assert await editor.prompt("[[route:debug 0.92 a crash to chase]] why does it crash") == "end_turn"
    modes = [u.current_mode_id for _s, u in editor.client.updates if isinstance(u, CurrentModeUpdate)]
    assert modes == ["debug"]  # a new session starts with the orchestrator, which handed the prompt on
    assert editor.client.text().endswith("why does it crash")


async def test_an_unknown_mode_is_invalid_params(editor: Editor) -> None:
    with pytest.raises(RequestError) as raised:
        await editor.mode("pirate")
    assert raised.value.code == -32602
    assert "modeId" in str(raised.value)


async def test_a_plan_is_shown_approved_through_a_permission_request_and_replayed(
    editor: Editor, system: System, tmp_path: Path, transport: str
) -> None:
    plan = {
        "goal": "Add a login screen",
        "subtasks": [
            {"id": "ui", "title": "Build the form", "description": "the form", "agent": "coder"},
            {"id": "wire", "title": "Wire it up", "description": "wiring", "agent": "coder", "depends_on": ["ui"]},
        ],
    }
    editor.client.choices = ["allow_once"]
    await editor.mode("architect")
    assert await editor.prompt(f"[[tool:create_plan {json.dumps(plan)}]] plan it") == "end_turn"
    [(shown, options)] = editor.client.permission_requests
    assert shown.title == "Plan: Add a login screen"
    assert options == ["allow_once", "reject_once"]
    plans = [u for _s, u in editor.client.updates if u.session_update == "plan"]
    assert [e.content for e in plans[0].entries] == ["Build the form (coder)", "Wire it up (coder)"]
    assert [e.status for e in plans[1].entries] == ["in_progress", "pending"]
    assert [e.status for e in plans[-1].entries] == ["completed", "completed"]
    second = WorkspaceClient(tmp_path)
    async with asyncio.timeout(LIMIT), connected(transport, system.gateway.port, second) as connection:
        await initialized(connection)
        await connection.load_session(session_id=editor.session_id, cwd=str(tmp_path), mcp_servers=[])
    replayed = [u for _s, u in second.updates if u.session_update == "plan"]
    assert [e.content for e in replayed[0].entries] == ["Build the form (coder)", "Wire it up (coder)"]
    assert [e.status for e in replayed[-1].entries] == ["completed", "completed"]
    thoughts = [u.content.text for _s, u in second.updates if u.session_update == "agent_thought_chunk"]
    assert [t.split("]")[0] for t in thoughts] == ["[Plan step 1/2", "[Plan step 2/2"]


async def test_load_replays_the_whole_history_on_a_second_connection(
    editor: Editor, system: System, tmp_path: Path, transport: str
) -> None:
    (tmp_path / "a.txt").write_text("alpha\n")
    await editor.mode("coder")
    assert await editor.prompt("first question") == "end_turn"
    assert await editor.prompt('[[tool:read_file {"path": "a.txt"}]] [[2:text:read done]]') == "end_turn"
    second = WorkspaceClient(tmp_path)
    async with asyncio.timeout(LIMIT), connected(transport, system.gateway.port, second) as connection:
        await initialized(connection)
        loaded = await connection.load_session(session_id=editor.session_id, cwd=str(tmp_path), mcp_servers=[])
        assert loaded.modes is not None
        assert loaded.modes.current_mode_id == "coder"
        users = [u.content.text for _s, u in second.updates if isinstance(u, UserMessageChunk)]
        assert users == ["first question", '[[tool:read_file {"path": "a.txt"}]] [[2:text:read done]]']
        assert second.text() == "first questionread done"
        [call] = [u for _s, u in second.updates if isinstance(u, ToolCallStart)]
        assert (call.kind, call.status) == ("read", "completed")
        answer = await connection.prompt(session_id=editor.session_id, prompt=[text_block("and on")])
        assert answer.stop_reason == "end_turn"


async def test_json_rpc_errors_leave_the_websocket_usable(system: System) -> None:
    async with asyncio.timeout(LIMIT), connect(acp_url(system)) as ws:

        async def answer(message: str) -> dict[str, Any]:
            await ws.send(message)
            return orjson.loads(await ws.recv())  # type: ignore[no-any-return]

        assert (await answer("{oops"))["error"]["code"] == -32700
        assert (await answer('{"jsonrpc":"2.0","id":1}'))["error"]["code"] == -32600
        init = '{"jsonrpc":"2.0","id":2,"method":"initialize","params":{"protocolVersion":1}}'
        assert (await answer(init))["result"]["protocolVersion"] == 1
        unknown = await answer('{"jsonrpc":"2.0","id":"x","method":"session/fly","params":{}}')
        assert (unknown["id"], unknown["error"]["code"]) == ("x", -32601)
        bad = await answer('{"jsonrpc":"2.0","id":3,"method":"session/new","params":{"cwd":42,"mcpServers":[]}}')
        assert bad["error"]["code"] == -32602
        assert "cwd" in bad["error"]["message"]
        fine = await answer('{"jsonrpc":"2.0","id":4,"method":"session/new","params":{"cwd":"/tmp","mcpServers":[]}}')
        assert fine["result"]["sessionId"]


async def test_an_unknown_method_is_method_not_found(editor: Editor) -> None:
    with pytest.raises(RequestError) as raised:
        await editor.connection.ext_method("codelab/nothing-here", {})
    assert raised.value.code == -32601
    assert await editor.prompt("still usable") == "end_turn"
