"""How a runtime tool call looks to an ACP client: its kind, title and locations, and its result as content.

Used for live calls, for refused ones and for the calls a ``session/load`` replays, so a call looks the same
whichever way it reaches the client.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.acp.workspace import OutsideWorkspace, Workspace

Update = dict[str, Any]

_KINDS = {
    "read_file": "read",
    "write_file": "edit",
    "create_directory": "edit",
    "list_files": "search",
    "search_in_code": "search",
    "execute_command": "execute",
    "delete_file": "delete",
    "move_file": "move",
}
TEXT_LIMIT = 8_000  # characters of a result shown in the tool call (the model gets all of it)


def kind(tool_name: str) -> str:
    return _KINDS.get(tool_name, "other")


def title(tool_name: str, arguments: dict[str, Any]) -> str:
    path = str(arguments.get("path") or ".")
    if tool_name == "read_file":
        start, end = arguments.get("start_line"), arguments.get("end_line")
        lines = f" (lines {start or 1}-{end})" if end else (f" (from line {start})" if start else "")
        return f"Read {path}{lines}"
    if tool_name == "write_file":
        return f"Write {path}"
    if tool_name == "create_directory":
        return f"Create directory {path}"
    if tool_name == "list_files":
        return f"List {path}" + (" recursively" if arguments.get("recursive") else "")
    if tool_name == "search_in_code":
        return f"Search for {str(arguments.get('query', ''))[:80]!r} in {path}"
    if tool_name == "execute_command":
        return f"Run {str(arguments.get('command', ''))[:200]}"
    return tool_name.replace("_", " ").capitalize()


def locations(tool_name: str, arguments: dict[str, Any], workspace: Workspace) -> list[dict[str, Any]]:
    """Where the call acts, as absolute paths (none for commands, or when a path would leave the workspace)."""
    if tool_name == "execute_command" or "path" not in arguments:
        return []
    try:
        location: dict[str, Any] = {"path": workspace.absolute(arguments["path"])}
    except OutsideWorkspace:
        return []
    line = arguments.get("start_line")
    if tool_name == "read_file" and isinstance(line, int) and not isinstance(line, bool) and line > 0:
        location["line"] = line
    return [location]


def started(call_id: str, tool_name: str, arguments: dict[str, Any], workspace: Workspace) -> Update:
    """The ``tool_call`` update announcing a call (pending until it runs)."""
    return {
        "sessionUpdate": "tool_call",
        "toolCallId": call_id,
        "title": title(tool_name, arguments),
        "kind": kind(tool_name),
        "status": "pending",
        "locations": locations(tool_name, arguments, workspace),
        "rawInput": arguments,
    }


def text(value: str) -> dict[str, Any]:
    """A text content item of a tool call."""
    return {"type": "content", "content": {"type": "text", "text": value}}


def diff(path: str, old: str | None, new: str) -> dict[str, Any]:
    return {"type": "diff", "path": path, "oldText": old, "newText": new}


def write_diff(arguments: dict[str, Any], workspace: Workspace, old: str | None) -> list[dict[str, Any]]:
    """The diff of a ``write_file`` (``old`` None: a new file); nothing for a path outside the workspace."""
    try:
        path = workspace.absolute(arguments.get("path"))
    except OutsideWorkspace:
        return []
    return [diff(path, old, str(arguments.get("content", "")))]


def finished(call_id: str, outcome: str, content: list[dict[str, Any]] | None = None) -> Update:
    """The ``tool_call_update`` that ends a call: ``completed`` or ``failed``."""
    update: Update = {"sessionUpdate": "tool_call_update", "toolCallId": call_id, "status": outcome}
    if content:
        update["content"] = content
    return update


def result_text(tool_name: str, result: dict[str, Any]) -> str:
    """A short readable form of an IDE-shaped tool result."""
    if tool_name == "read_file":
        return _clip(str(result.get("content", "")))
    if tool_name == "execute_command":
        output = str(result.get("stdout", "")) + str(result.get("stderr", ""))
        status = "timed out" if result.get("timed_out") else f"exit code {result.get('exit_code')}"
        return _clip(output) + f"\n[{status}]"
    if tool_name == "list_files":
        items = result.get("items") or []
        return _clip("\n".join(str(item.get("path", "")) for item in items if isinstance(item, dict)))
    if tool_name == "search_in_code":
        matches = result.get("matches") or []
        lines = [
            f"{m.get('file')}:{m.get('line')}: {m.get('line_content', '')}" for m in matches if isinstance(m, dict)
        ]
        return _clip("\n".join(lines) or "no matches")
    return _clip(orjson.dumps(result).decode())


def _clip(value: str) -> str:
    return value if len(value) <= TEXT_LIMIT else value[:TEXT_LIMIT] + f"\n… ({len(value) - TEXT_LIMIT} more)"
