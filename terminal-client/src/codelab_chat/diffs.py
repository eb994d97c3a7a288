"""What a ``write_file`` would change, as a unified diff against the file in the workspace today."""

from __future__ import annotations

import difflib
from typing import Any

from codelab_chat.workspace import ToolError, Workspace

MAX_COMPARED_BYTES = 1024 * 1024  # a bigger file is not diffed (the approval says so instead)


def write_diff(workspace: Workspace, arguments: dict[str, Any]) -> str:
    """The unified diff of ``write_file``'s ``content`` against the current ``path`` (``/dev/null`` for a new file);
    a sentence instead when it cannot be computed (a path the tool would refuse, a binary or huge file), and an
    empty string when the content is unchanged."""
    path, content = arguments.get("path"), arguments.get("content")
    if not isinstance(path, str) or not isinstance(content, str):
        return "(no diff: path and content must be strings)"
    try:
        location = workspace.resolve(path)
    except ToolError as exc:
        return f"(no diff: {exc})"
    before, source = "", "/dev/null"
    if location.is_file():
        if location.stat().st_size > MAX_COMPARED_BYTES:
            return f"(no diff: {path} is over {MAX_COMPARED_BYTES // 1024} KiB)"
        try:
            before = location.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError):
            return f"(no diff: {path} is not UTF-8 text)"
        source = f"a/{path}"
    lines = difflib.unified_diff(_lines(before), _lines(content), fromfile=source, tofile=f"b/{path}", lineterm="")
    return "\n".join(lines)


def _lines(text: str) -> list[str]:
    lines = text.splitlines()
    if text and not text.endswith(("\n", "\r")):
        lines[-1] += "\n\\ No newline at end of file"
    return lines
