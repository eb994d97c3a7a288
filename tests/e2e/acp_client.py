"""An ACP client for the end-to-end tests, built on the official SDK's client (``agent-client-protocol``).

It is what an editor is to the agent: it serves ``fs/*`` from a real workspace folder, runs ``terminal/*``
commands as real processes, answers ``session/request_permission`` with scripted choices, and records every
``session/update`` and every request the agent made, so tests assert on what a real editor would have seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acp import PROTOCOL_VERSION, RequestError, connect_to_agent, spawn_agent_process
from acp.core import ClientSideConnection
from acp.schema import (
    AgentMessageChunk,
    ClientCapabilities,
    CreateTerminalResponse,
    FileSystemCapabilities,
    Implementation,
    ReadTextFileResponse,
    RequestPermissionResponse,
    TerminalExitStatus,
    TerminalOutputResponse,
    TextContentBlock,
    WaitForTerminalExitResponse,
    WriteTextFileResponse,
)
from acp.ws import create_websocket_stream


@dataclass
class Terminal:
    process: asyncio.subprocess.Process
    output: bytearray = field(default_factory=bytearray)
    reader: asyncio.Task[None] | None = None


class WorkspaceClient:
    """The editor side. ``choices`` are the permission answers to give, in order (an option id each)."""

    def __init__(self, workspace: Path, choices: list[str] | None = None) -> None:
        self.workspace = workspace.resolve()
        self.choices = list(choices or [])
        self.updates: list[Any] = []  # (session_id, update model)
        self.requests: list[tuple[str, dict[str, Any]]] = []  # (method, params) the agent sent
        self.permission_requests: list[Any] = []
        self._terminals: dict[str, Terminal] = {}
        self._ids = itertools.count(1)

    # what the tests read ---------------------------------------------------------------------------------------

    def text(self, session_id: str | None = None) -> str:
        """The agent's text as an editor shows it: every agent_message_chunk concatenated."""
        return "".join(
            u.content.text
            for s, u in self.updates
            if (session_id is None or s == session_id)
            and isinstance(u, AgentMessageChunk)
            and isinstance(u.content, TextContentBlock)
        )

    def kinds(self) -> list[str]:
        return [u.session_update for _s, u in self.updates]

    def methods(self) -> list[str]:
        return [method for method, _params in self.requests]

    def _inside(self, path: str) -> Path:
        resolved = Path(path).resolve()
        if not Path(path).is_absolute() or not resolved.is_relative_to(self.workspace):
            raise RequestError.invalid_params({"path": f"{path} is not inside the workspace"})
        return resolved

    # the Client protocol ---------------------------------------------------------------------------------------

    async def session_update(self, session_id: str, update: Any, **kwargs: Any) -> None:
        self.updates.append((session_id, update))

    async def request_permission(
        self, options: list[Any], session_id: str, tool_call: Any, **kwargs: Any
    ) -> RequestPermissionResponse:
        self.permission_requests.append((tool_call, [o.option_id for o in options]))
        choice = self.choices.pop(0) if self.choices else "reject_once"
        if choice == "cancelled":
            return RequestPermissionResponse.model_validate({"outcome": {"outcome": "cancelled"}})
        return RequestPermissionResponse.model_validate({"outcome": {"outcome": "selected", "optionId": choice}})

    async def read_text_file(
        self, path: str, session_id: str, limit: int | None = None, line: int | None = None, **kwargs: Any
    ) -> ReadTextFileResponse:
        self.requests.append(("fs/read_text_file", {"path": path, "line": line, "limit": limit}))
        target = self._inside(path)
        if not target.is_file():
            raise RequestError.resource_not_found(path)
        lines = target.read_text().splitlines(keepends=True)
        start = (line or 1) - 1
        chosen = lines[start : start + limit] if limit else lines[start:]
        return ReadTextFileResponse(content="".join(chosen))

    async def write_text_file(self, content: str, path: str, session_id: str, **kwargs: Any) -> WriteTextFileResponse:
        self.requests.append(("fs/write_text_file", {"path": path, "content": content}))
        target = self._inside(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
        return WriteTextFileResponse()

    async def create_terminal(
        self,
        command: str,
        session_id: str,
        args: list[str] | None = None,
        cwd: str | None = None,
        env: list[Any] | None = None,
        output_byte_limit: int | None = None,
        **kwargs: Any,
    ) -> CreateTerminalResponse:
        self.requests.append(("terminal/create", {"command": command, "args": args or [], "cwd": cwd}))
        workdir = self._inside(cwd) if cwd else self.workspace
        process = await asyncio.create_subprocess_exec(
            command,
            *(args or []),
            cwd=workdir,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        terminal = Terminal(process)
        terminal.reader = asyncio.create_task(self._collect(terminal))
        terminal_id = f"term-{next(self._ids)}"
        self._terminals[terminal_id] = terminal
        return CreateTerminalResponse(terminal_id=terminal_id)

    async def _collect(self, terminal: Terminal) -> None:
        assert terminal.process.stdout is not None
        while chunk := await terminal.process.stdout.read(65536):
            terminal.output.extend(chunk)

    async def wait_for_terminal_exit(
        self, session_id: str, terminal_id: str, **kwargs: Any
    ) -> WaitForTerminalExitResponse:
        self.requests.append(("terminal/wait_for_exit", {"terminalId": terminal_id}))
        terminal = self._terminals[terminal_id]
        code = await terminal.process.wait()
        if terminal.reader is not None:
            await terminal.reader
        return WaitForTerminalExitResponse(exit_code=code)

    async def terminal_output(self, session_id: str, terminal_id: str, **kwargs: Any) -> TerminalOutputResponse:
        self.requests.append(("terminal/output", {"terminalId": terminal_id}))
        terminal = self._terminals[terminal_id]
        code = terminal.process.returncode
        status = TerminalExitStatus(exit_code=code) if code is not None else None
        text = terminal.output.decode(errors="replace")
        return TerminalOutputResponse(output=text, truncated=False, exit_status=status)

    async def kill_terminal(self, session_id: str, terminal_id: str, **kwargs: Any) -> None:
        self.requests.append(("terminal/kill", {"terminalId": terminal_id}))
        with contextlib.suppress(ProcessLookupError):
            self._terminals[terminal_id].process.kill()

    async def release_terminal(self, session_id: str, terminal_id: str, **kwargs: Any) -> None:
        self.requests.append(("terminal/release", {"terminalId": terminal_id}))
        terminal = self._terminals.pop(terminal_id)
        if terminal.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                terminal.process.kill()
            await terminal.process.wait()

    async def ext_method(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        raise RequestError.method_not_found(method)

    async def ext_notification(self, method: str, params: dict[str, Any]) -> None:
        return None

    def on_connect(self, conn: Any) -> None:
        return None


def capabilities(*, fs: bool = True, terminal: bool = True) -> ClientCapabilities:
    return ClientCapabilities(
        fs=FileSystemCapabilities(read_text_file=fs, write_text_file=fs),
        terminal=terminal,
    )


@asynccontextmanager
async def connected_over_websocket(
    url: str, client: WorkspaceClient, headers: dict[str, str] | None = None
) -> AsyncIterator[ClientSideConnection]:
    """The SDK's client on the SDK's WebSocket transport."""
    transport = await create_websocket_stream(url, headers=headers)
    connection = connect_to_agent(client, transport)
    try:
        yield connection
    finally:
        await connection.close()


@asynccontextmanager
async def connected_through_bridge(
    url: str, client: WorkspaceClient, *flags: str, stderr: Path | None = None
) -> AsyncIterator[ClientSideConnection]:
    """The SDK's client with ``codelab-acp`` as its agent subprocess, as an editor launches it."""
    with contextlib.ExitStack() as files:
        log = files.enter_context(stderr.open("ab")) if stderr is not None else None
        command = (sys.executable, "-m", "codelab_acp", "--url", url, "--log-level", "INFO", *flags)
        kwargs = {"stderr": log.fileno() if log is not None else asyncio.subprocess.DEVNULL}
        async with spawn_agent_process(client, *command, transport_kwargs=kwargs) as (connection, _process):
            yield connection


@asynccontextmanager
async def connected(
    transport: str, gateway_port: int, client: WorkspaceClient, path: str = "/acp", stderr: Path | None = None
) -> AsyncIterator[ClientSideConnection]:
    """``transport``: ``websocket`` (the SDK's WebSocket client) or ``bridge`` (``codelab-acp`` on stdio)."""
    url = f"ws://127.0.0.1:{gateway_port}{path}"
    if transport == "websocket":
        async with connected_over_websocket(url, client) as connection:
            yield connection
    else:
        async with connected_through_bridge(url, client, stderr=stderr) as connection:
            yield connection


async def initialized(connection: ClientSideConnection, *, fs: bool = True, terminal: bool = True) -> Any:
    return await connection.initialize(
        protocol_version=PROTOCOL_VERSION,
        client_capabilities=capabilities(fs=fs, terminal=terminal),
        client_info=Implementation(name="e2e", version="1"),
    )
