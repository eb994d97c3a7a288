"""codelab-acp, the stdio bridge, as a real subprocess: its own framing errors, and a gateway restart in the
middle of a turn that the editor never notices (reconnect, resume, nothing lost, nothing twice)."""

from __future__ import annotations

import asyncio
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from acp import text_block

from tests.e2e.acp_client import WorkspaceClient, connected_through_bridge, initialized
from tests.e2e.system import System, start_system

LIMIT = 90


async def _exchange(process: asyncio.subprocess.Process, line: bytes) -> dict[str, Any]:
    assert process.stdin is not None
    assert process.stdout is not None
    process.stdin.write(line + b"\n")
    await process.stdin.drain()
    answer = orjson.loads(await asyncio.wait_for(process.stdout.readline(), 20))
    assert isinstance(answer, dict)
    return answer


async def test_framing_errors_on_stdio_are_answered_and_the_bridge_goes_on(system: System) -> None:
    url = f"ws://127.0.0.1:{system.gateway.port}"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "codelab_acp", "--url", url,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        async with asyncio.timeout(LIMIT):
            assert (await _exchange(process, b"{oops"))["error"]["code"] == -32700
            batch = await _exchange(process, b'[{"jsonrpc":"2.0","id":1,"method":"initialize"}]')
            assert (batch["id"], batch["error"]["code"]) == (None, -32600)
            init = b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":1}}'
            assert (await _exchange(process, init))["result"]["protocolVersion"] == 1
            unknown = await _exchange(process, b'{"jsonrpc":"2.0","id":"u","method":"session/fly","params":{}}')
            assert (unknown["id"], unknown["error"]["code"]) == ("u", -32601)
            bad = b'{"jsonrpc":"2.0","id":2,"method":"session/new","params":{"cwd":"relative","mcpServers":[]}}'
            assert (await _exchange(process, bad))["error"]["code"] == -32602
    finally:
        assert process.stdin is not None
        process.stdin.close()
        await asyncio.wait_for(process.wait(), 20)
    assert process.returncode == 0  # the editor closed stdin: the bridge ends cleanly


@pytest.fixture
def own_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    """A system of its own: this test restarts its gateway."""
    running = start_system(Path(tmp_path_factory.mktemp("acp-restart")), "acp-restart-key-" + secrets.token_hex(8))
    yield running
    running.stop()


async def test_a_gateway_restart_mid_turn_is_resumed_without_loss_or_repeat(own_system: System, tmp_path: Path) -> None:
    words = " ".join(f"w{n}" for n in range(300))
    client = WorkspaceClient(tmp_path, choices=["allow_once"])
    url = f"ws://127.0.0.1:{own_system.gateway.port}"
    stderr = tmp_path / "bridge.log"
    async with asyncio.timeout(LIMIT), connected_through_bridge(url, client, stderr=stderr) as connection:
        await initialized(connection)
        session = await connection.new_session(cwd=str(tmp_path), mcp_servers=[])
        await connection.set_session_mode(session_id=session.session_id, mode_id="coder")
        script = f'[[delay_ms:15]] [[tool:write_file {{"path": "out.md", "content": "# out"}}]] [[2:text:{words}]] go'
        prompt = asyncio.create_task(connection.prompt(session_id=session.session_id, prompt=[text_block(script)]))
        while len(client.text()) < 200:  # the reply after the approved write is streaming
            await asyncio.sleep(0.01)
        own_system.gateway.stop()  # every socket is closed; the runtime's run goes on
        own_system.gateway.start()
        own_system.gateway.wait_healthy()
        answer = await prompt
    assert answer.stop_reason == "end_turn"
    assert client.text() == words  # every word once, in order: what was missed came after the reconnect
    assert (tmp_path / "out.md").read_text() == "# out"
    assert len(client.permission_requests) == 1
    assert "reconnected" in stderr.read_text()


class HeldQuestion(WorkspaceClient):
    """Keeps its first permission question open until ``release`` (the user looks away while the gateway
    restarts); its answer then reaches a connection that is gone."""

    def __init__(self, workspace: Path, choices: list[str]) -> None:
        super().__init__(workspace, choices)
        self.asked = asyncio.Event()
        self.release = asyncio.Event()

    async def request_permission(self, options: list[Any], session_id: str, tool_call: Any, **kwargs: Any) -> Any:
        first = not self.permission_requests
        answer = await super().request_permission(options, session_id, tool_call, **kwargs)
        if first:
            self.asked.set()
            await self.release.wait()
        return answer


async def test_a_question_open_when_the_gateway_restarts_is_asked_again_and_answered_once(
    own_system: System, tmp_path: Path
) -> None:
    client = HeldQuestion(tmp_path, choices=["allow_once", "allow_once"])
    url = f"ws://127.0.0.1:{own_system.gateway.port}"
    async with asyncio.timeout(LIMIT), connected_through_bridge(url, client, stderr=tmp_path / "bridge.log") as conn:
        await initialized(conn)
        session = await conn.new_session(cwd=str(tmp_path), mcp_servers=[])
        await conn.set_session_mode(session_id=session.session_id, mode_id="coder")
        script = '[[tool:write_file {"path": "asked.md", "content": "# once"}]] [[2:text:written]]'
        prompt = asyncio.create_task(conn.prompt(session_id=session.session_id, prompt=[text_block(script)]))
        await client.asked.wait()
        own_system.gateway.stop()
        own_system.gateway.start()
        own_system.gateway.wait_healthy()
        while len(client.permission_requests) < 2:  # the resumed turn asks the new connection again
            await asyncio.sleep(0.02)
        client.release.set()  # the first answer arrives late, for the connection that is gone: dropped
        answer = await prompt
    assert answer.stop_reason == "end_turn"
    assert (tmp_path / "asked.md").read_text() == "# once"
    assert [m for m in client.methods() if m == "fs/write_text_file"] == ["fs/write_text_file"]
    assert client.text().endswith("written")
