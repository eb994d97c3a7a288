"""Tools by client capability, end to end: what the llm-proxy receives as the model's ``tools`` (read on the wire
between the runtime and the proxy) is what the client can run. An ACP client without ``terminal`` is offered no
``execute_command`` (over the WebSocket and through ``codelab-acp``); a v2 IDE's ``hello`` declaration is honoured;
the legacy IDE keeps its six."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from acp import text_block

from tests.e2e.acp_client import WorkspaceClient, connected, initialized
from tests.e2e.system import System, free_port, start_system
from tests.e2e.tap import RecordingTap

LIMIT = 60
IDE_SIX = {"read_file", "write_file", "list_files", "search_in_code", "create_directory", "execute_command"}


@pytest.fixture(scope="module")
def tapped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[System, RecordingTap]]:
    """A system whose runtime reaches the llm-proxy through a recording tap."""
    proxy_port = free_port()
    tap = RecordingTap(proxy_port)
    workdir = tmp_path_factory.mktemp("e2e-client-tools")
    env = {"AGENT_RUNTIME__LLM_PROXY_URL": f"http://127.0.0.1:{tap.port}"}
    system = start_system(workdir, "client-tools-key-" + secrets.token_hex(8), env, {"llm-proxy": proxy_port})
    yield system, tap
    system.stop()
    tap.close()


def offered_for(tap: RecordingTap, marker: str) -> list[set[str]]:
    """The client-executed tools of each model request whose conversation contains ``marker``."""
    offered = []
    for body in tap.requests("/v1/chat/completions"):
        if body.get("response_format") or marker not in json.dumps(body["messages"]):
            continue  # the orchestrator's routing call offers no tools
        offered.append({tool["function"]["name"] for tool in body.get("tools") or ()} & IDE_SIX)
    return offered


@pytest.mark.parametrize("transport", ["websocket", "bridge"])
async def test_an_acp_client_without_a_terminal_is_offered_no_command(
    tapped: tuple[System, RecordingTap], tmp_path: Path, transport: str
) -> None:
    system, tap = tapped
    client = WorkspaceClient(tmp_path)
    marker = f"no-terminal-{transport}"
    script = f'[[tool:execute_command {{"command": "touch ran.txt"}}]] [[2:text:understood]] {marker}'
    async with asyncio.timeout(LIMIT), connected(transport, system.gateway.port, client) as connection:
        await initialized(connection, terminal=False)
        session = await connection.new_session(cwd=str(tmp_path), mcp_servers=[])
        await connection.set_session_mode(session_id=session.session_id, mode_id="coder")
        answer = await connection.prompt(session_id=session.session_id, prompt=[text_block(script)])
    assert answer.stop_reason == "end_turn"
    offered = offered_for(tap, marker)
    assert len(offered) == 2  # the call the model made anyway, then its answer
    assert all(tools == {"read_file", "write_file"} for tools in offered)
    assert not any(method.startswith("terminal/") for method in client.methods())
    assert not (tmp_path / "ran.txt").exists()
    assert client.text().endswith("understood")
    [refused] = [u for _s, u in client.updates if getattr(u, "status", None) == "failed"]  # shown with the reason
    assert "not available" in str(refused.content)


async def test_an_acp_client_with_only_a_terminal_gets_commands_but_no_file_tools(
    tapped: tuple[System, RecordingTap], tmp_path: Path
) -> None:
    system, tap = tapped
    client = WorkspaceClient(tmp_path)
    async with asyncio.timeout(LIMIT), connected("websocket", system.gateway.port, client) as connection:
        await initialized(connection, fs=False, terminal=True)
        session = await connection.new_session(cwd=str(tmp_path), mcp_servers=[])
        await connection.set_session_mode(session_id=session.session_id, mode_id="coder")
        await connection.prompt(session_id=session.session_id, prompt=[text_block("terminal-only client")])
    assert offered_for(tap, "terminal-only client") == [IDE_SIX - {"read_file", "write_file"}]


async def _v2_turn(system: System, session_id: str, content: str, hello: dict[str, Any] | None) -> None:
    async with asyncio.timeout(LIMIT), websockets.connect(system.ws_url(session_id)) as ws:
        if hello is not None:
            await ws.send(json.dumps(hello))
            assert json.loads(await ws.recv())["type"] == "hello"
        await ws.send(json.dumps({"type": "user_message", "content": content, "agent_type": "coder"}))
        while (frame := json.loads(await ws.recv()))["type"] not in ("done", "assistant_message"):
            pass
        assert frame["type"] in ("done", "assistant_message")


async def test_a_v2_hello_declaration_is_honoured_and_the_legacy_ide_keeps_its_six(
    tapped: tuple[System, RecordingTap],
) -> None:
    system, tap = tapped
    hello = {"type": "hello", "protocol": 2, "client_tools": ["read_file", "list_files"]}
    await _v2_turn(system, "e2e-ct-v2", "declared by hello", hello)
    await _v2_turn(system, "e2e-ct-v1", "the legacy ide", None)
    assert offered_for(tap, "declared by hello") == [{"read_file", "list_files"}]
    assert offered_for(tap, "the legacy ide") == [IDE_SIX]


async def test_the_ide_after_an_acp_editor_on_the_same_session_gets_its_six_tools_back(
    tapped: tuple[System, RecordingTap], tmp_path: Path
) -> None:
    system, tap = tapped
    client = WorkspaceClient(tmp_path)
    async with asyncio.timeout(LIMIT), connected("websocket", system.gateway.port, client) as connection:
        await initialized(connection, terminal=False)
        session = await connection.new_session(cwd=str(tmp_path), mcp_servers=[])
        await connection.prompt(session_id=session.session_id, prompt=[text_block("[[route:ask 0.9 q]] from zed")])
    await _v2_turn(system, session.session_id, "then from the ide", None)
    assert offered_for(tap, "from zed")[0] == {"read_file"}  # the ask agent reads; the client has no terminal
    assert offered_for(tap, "then from the ide")[-1] == IDE_SIX
