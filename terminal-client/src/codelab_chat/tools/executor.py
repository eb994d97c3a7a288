"""Dispatch of a ``tool_call`` to the IDE tool of that name, turning every failure into the ``error`` string."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from codelab_chat.tools.commands import execute_command
from codelab_chat.tools.files import create_directory, list_files, read_file, write_file
from codelab_chat.tools.limits import ToolLimits
from codelab_chat.tools.search import search_in_code
from codelab_chat.workspace import ToolError, Workspace

Result = dict[str, Any]
SyncTool = Callable[[Workspace, ToolLimits, dict[str, Any]], Result]
AsyncTool = Callable[[Workspace, ToolLimits, dict[str, Any]], Awaitable[Result]]

_FILE_TOOLS: dict[str, SyncTool] = {
    "read_file": read_file,
    "write_file": write_file,
    "list_files": list_files,
    "create_directory": create_directory,
    "search_in_code": search_in_code,
}
_PROCESS_TOOLS: dict[str, AsyncTool] = {"execute_command": execute_command, "run_command": execute_command}

SUPPORTED_TOOLS = frozenset(_FILE_TOOLS) | frozenset(_PROCESS_TOOLS)


@dataclass(frozen=True)
class ToolOutcome:
    """What goes back in ``tool_result``: exactly one of ``result`` (an object) or ``error`` (a sentence)."""

    result: Result | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class ToolExecutor:
    """Runs the IDE tools against one workspace."""

    def __init__(self, workspace: Workspace, limits: ToolLimits | None = None) -> None:
        self.workspace = workspace
        self.limits = limits or ToolLimits()

    async def execute(self, tool_name: str, arguments: Any) -> ToolOutcome:
        """Run ``tool_name``; never raises for a bad call, the agent gets an error string instead."""
        if not isinstance(arguments, dict):
            return ToolOutcome(error="Arguments must be a JSON object")
        try:
            if tool_name in _PROCESS_TOOLS:
                return ToolOutcome(result=await _PROCESS_TOOLS[tool_name](self.workspace, self.limits, arguments))
            if tool_name in _FILE_TOOLS:
                tool = _FILE_TOOLS[tool_name]
                # File walks and reads block; keep the WebSocket (and its keep-alive pings) responsive.
                return ToolOutcome(result=await asyncio.to_thread(tool, self.workspace, self.limits, arguments))
        except ToolError as exc:
            return ToolOutcome(error=str(exc))
        except OSError as exc:
            return ToolOutcome(error=f"{tool_name} failed: {exc.strerror or exc}")
        return ToolOutcome(error=f"Unsupported tool: {tool_name}")
