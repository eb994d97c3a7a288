"""The IDE's six tools, run by the ACP client: ``fs/*`` for files, ``terminal/*`` for everything else.

Each tool returns the result object the runtime expects from the IDE (reference §4), so the runtime cannot tell an
ACP client from the IDE. Which tools a client can run follows from its ``clientCapabilities``; a tool it cannot
run is never called on it (the runtime is told the client's tools, and a call that arrives anyway fails here).
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from acp import schema

from gateway.acp import tool_calls
from gateway.acp.peer import ClientError, ClientPeer
from gateway.acp.terminal import TerminalRun, ToolFailed, run_in_terminal
from gateway.acp.terminal_tools import create_directory, list_files, search_in_code
from gateway.acp.workspace import OutsideWorkspace, Workspace

FS_TIMEOUT = 120.0  # seconds a client may take to read or write a file
Progress = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What the client said it can do in ``initialize``."""

    read_text_file: bool = False
    write_text_file: bool = False
    terminal: bool = False

    @classmethod
    def from_client(cls, capabilities: schema.ClientCapabilities) -> Capabilities:
        fs = capabilities.fs or schema.FileSystemCapabilities()
        return cls(
            read_text_file=bool(fs.read_text_file),
            write_text_file=bool(fs.write_text_file),
            terminal=bool(capabilities.terminal),
        )

    def tools(self) -> list[str]:
        """The client-executed tools this client can run (contracts.md: client tool capabilities)."""
        names = []
        if self.read_text_file:
            names.append("read_file")
        if self.write_text_file:
            names.append("write_file")
        if self.terminal:
            names += ["execute_command", "list_files", "search_in_code", "create_directory"]
        return names


@dataclass(slots=True)
class Outcome:
    """A tool's answer for the runtime (``result`` or ``error``) and what the client's tool call shows."""

    result: dict[str, Any] | None = None
    error: str | None = None
    content: list[dict[str, Any]] = field(default_factory=list)


class ClientTools:
    """Runs one session's tool calls on its client."""

    def __init__(self, peer: ClientPeer, session_id: str, workspace: Workspace, capabilities: Capabilities) -> None:
        self.peer = peer
        self.session_id = session_id
        self.workspace = workspace
        self.capabilities = capabilities

    async def old_text(self, arguments: dict[str, Any]) -> str | None:
        """The file a ``write_file`` replaces, for its diff (None: new, unreadable, or no ``fs.readTextFile``)."""
        if not self.capabilities.read_text_file:
            return None
        try:
            path = self.workspace.absolute(arguments.get("path"))
            answer = await self.peer.call("fs/read_text_file", {"sessionId": self.session_id, "path": path}, FS_TIMEOUT)
        except (ClientError, OutsideWorkspace, TimeoutError):
            return None
        content = answer.get("content") if isinstance(answer, dict) else None
        return content if isinstance(content, str) else None

    async def run(self, tool_name: str, arguments: dict[str, Any], progress: Progress) -> Outcome:
        """Run one call; a failure is an ``Outcome`` with ``error`` (the model reads it and can change course)."""
        handler = _HANDLERS.get(tool_name)
        if handler is None or tool_name not in self.capabilities.tools():
            return Outcome(error=f"this client cannot run {tool_name}")
        try:
            return await handler(self, arguments, progress)
        except OutsideWorkspace as exc:
            return Outcome(error=str(exc))
        except ToolFailed as exc:
            return Outcome(error=str(exc))
        except ClientError as exc:
            return Outcome(error=f"{tool_name} failed on the client: {exc.message}")
        except TimeoutError:
            return Outcome(error=f"{tool_name}: the client did not answer in time")

    async def _read_file(self, arguments: dict[str, Any], progress: Progress) -> Outcome:
        params: dict[str, Any] = {"sessionId": self.session_id, "path": self.workspace.absolute(arguments["path"])}
        start, end = arguments.get("start_line"), arguments.get("end_line")
        if isinstance(start, int) and start > 0:
            params["line"] = start
        if isinstance(end, int) and end > 0:
            params["limit"] = max(1, end - (params.get("line") or 1) + 1)
        answer = await self.peer.call("fs/read_text_file", params, FS_TIMEOUT)
        content = answer.get("content") if isinstance(answer, dict) else None
        if not isinstance(content, str):
            raise ToolFailed("read_file: the client answered without content")
        lines = content.count("\n") + (1 if content and not content.endswith("\n") else 0)
        result = {"success": True, "content": content, "lines_read": lines}
        return Outcome(result, content=[tool_calls.text(tool_calls.result_text("read_file", result))])

    async def _write_file(self, arguments: dict[str, Any], progress: Progress) -> Outcome:
        path = self.workspace.absolute(arguments["path"])
        content = str(arguments.get("content", ""))
        if arguments.get("create_dirs") and self.capabilities.terminal:
            await create_directory(self._terminal, self.workspace, self.workspace.parent(path), recursive=True)
        await self.peer.call(
            "fs/write_text_file", {"sessionId": self.session_id, "path": path, "content": content}, FS_TIMEOUT
        )
        return Outcome({"success": True, "bytes_written": len(content.encode())})

    async def _execute_command(self, arguments: dict[str, Any], progress: Progress) -> Outcome:
        command = str(arguments.get("command", ""))
        if arguments.get("shell"):
            program, args = "sh", ["-c", command]
        else:
            try:
                argv = shlex.split(command)
            except ValueError as exc:
                raise ToolFailed(f"execute_command: cannot split the command line: {exc}") from None
            if not argv:
                raise ToolFailed("execute_command: empty command")
            program, args = argv[0], argv[1:]
        cwd = self.workspace.absolute(arguments.get("cwd") or ".")
        timeout = arguments.get("timeout")
        limit = float(timeout) if isinstance(timeout, int | float) and timeout > 0 else 60.0
        started = time.perf_counter()

        async def shown(terminal_id: str) -> None:
            await progress({"status": "in_progress", "content": [{"type": "terminal", "terminalId": terminal_id}]})

        run = await self._terminal(program, args, cwd, limit, shown)
        result = {
            "command": command,
            "exit_code": run.exit_code if run.exit_code is not None else -1,
            "stdout": run.output,
            "stderr": "" if run.signal is None else f"terminated by signal {run.signal}",
            "duration_ms": int((time.perf_counter() - started) * 1000),
            "timed_out": run.timed_out,
        }
        content = [{"type": "terminal", "terminalId": run.terminal_id}] if run.terminal_id else []
        return Outcome(result, content=content)

    async def _list_files(self, arguments: dict[str, Any], progress: Progress) -> Outcome:
        result = await list_files(self._terminal, self.workspace, arguments)
        return Outcome(result, content=[tool_calls.text(tool_calls.result_text("list_files", result))])

    async def _search_in_code(self, arguments: dict[str, Any], progress: Progress) -> Outcome:
        result = await search_in_code(self._terminal, self.workspace, arguments)
        return Outcome(result, content=[tool_calls.text(tool_calls.result_text("search_in_code", result))])

    async def _create_directory(self, arguments: dict[str, Any], progress: Progress) -> Outcome:
        path = self.workspace.absolute(arguments["path"])
        recursive = arguments.get("recursive", True) is not False
        result = await create_directory(self._terminal, self.workspace, path, recursive=recursive)
        return Outcome(result)

    async def _terminal(
        self,
        program: str,
        args: list[str],
        cwd: str,
        time_limit: float,
        shown: Callable[[str], Awaitable[None]] | None = None,
    ) -> TerminalRun:
        return await run_in_terminal(self.peer, self.session_id, program, args, cwd, time_limit, shown)


Handler = Callable[[ClientTools, dict[str, Any], Progress], Awaitable[Outcome]]
_HANDLERS: dict[str, Handler] = {
    "read_file": ClientTools._read_file,
    "write_file": ClientTools._write_file,
    "execute_command": ClientTools._execute_command,
    "list_files": ClientTools._list_files,
    "search_in_code": ClientTools._search_in_code,
    "create_directory": ClientTools._create_directory,
}
