"""``list_files``, ``search_in_code`` and ``create_directory`` through the client's terminal.

ACP has no file-listing or search methods, so these run POSIX tools on the client (``find``, ``grep``, ``mkdir``;
GNU and BSD both understand the options used), always as a program with separate arguments, never as a shell
line built from the model's arguments. Their output is parsed into the IDE's result objects.

Files whose names say they hold credentials (``service_kit.secret_files``) are left out of what listings and
searches report, so nothing of them reaches the runtime or the model: the ACP client's frames promise
``excludes_secrets`` (contracts.md), which lets the runtime's policy run recursive listings and searches unasked.
"""

from __future__ import annotations

import re
from typing import Any

from gateway.acp.terminal import Terminal, TerminalRun, ToolFailed
from gateway.acp.workspace import Workspace
from service_kit.secret_files import secret_file

TOOL_TIMEOUT = 60.0
# Not searched, as the terminal client and the IDE do not: hidden folders, dependencies and build output.
SKIPPED_DIRS = (".*", "node_modules", "__pycache__", "build", "dist", ".dart_tool")
_MKDIR = 'if [ -d "$1" ]; then echo exists; else mkdir $2 -- "$1" && echo created; fi'


def _failure(tool: str, run: TerminalRun) -> ToolFailed:
    detail = run.output.strip()[-500:] or f"exit code {run.exit_code}"
    return ToolFailed(f"{tool} failed on the client: {detail}")


async def list_files(terminal: Terminal, workspace: Workspace, arguments: dict[str, Any]) -> dict[str, Any]:
    root = workspace.absolute(arguments.get("path") or ".")
    args = [root, "-mindepth", "1"]
    if not arguments.get("recursive"):
        args += ["-maxdepth", "1"]
    if not arguments.get("include_hidden"):
        args += ["-name", ".*", "-prune", "-o"]
    pattern = arguments.get("pattern")
    if isinstance(pattern, str) and pattern:
        args += ["-name", pattern, "-a"]
    args += ["(", "(", "-type", "d", "-exec", "printf", "d %s\\n", "{}", "+", ")"]
    args += ["-o", "(", "-type", "f", "-exec", "printf", "f %s\\n", "{}", "+", ")", ")"]
    run = await terminal("find", args, workspace.cwd, TOOL_TIMEOUT)
    if run.exit_code != 0 and not run.output.startswith(("d ", "f ")):
        raise _failure("list_files", run)
    items = []
    for line in run.output.splitlines():
        if len(line) < 3 or line[1] != " " or line[0] not in "df" or not workspace.contains(line[2:]):
            continue
        relative = workspace.relative(line[2:])
        if secret_file(relative):
            continue
        name = relative.rsplit("/", 1)[-1]
        items.append({"name": name, "path": relative, "type": "directory" if line[0] == "d" else "file"})
    items.sort(key=lambda item: item["path"])
    result: dict[str, Any] = {
        "success": True,
        "path": workspace.relative(root),
        "items": items,
        "total_count": len(items),
    }
    if run.truncated:
        result["truncated"] = True
    return result


async def search_in_code(terminal: Terminal, workspace: Workspace, arguments: dict[str, Any]) -> dict[str, Any]:
    query = str(arguments.get("query", ""))
    root = workspace.absolute(arguments.get("path") or ".")
    case_sensitive = bool(arguments.get("case_sensitive"))
    regex = bool(arguments.get("regex"))
    args = ["-r", "-n", "-I", "-H", "--null", "--exclude=.*", "-E" if regex else "-F"]
    args += [f"--exclude-dir={name}" for name in SKIPPED_DIRS]
    if not case_sensitive:
        args.append("-i")
    file_pattern = arguments.get("file_pattern")
    if isinstance(file_pattern, str) and file_pattern:
        args.append(f"--include={file_pattern}")
    args += ["-e", query, "--", root]
    run = await terminal("grep", args, workspace.cwd, TOOL_TIMEOUT)
    if run.exit_code not in (0, 1):  # 1: no match
        raise _failure("search_in_code", run)
    limit = arguments.get("max_results")
    limit = limit if isinstance(limit, int) and limit > 0 else 100
    matcher = _matcher(query, regex=regex, case_sensitive=case_sensitive)
    matches: list[dict[str, Any]] = []
    total = 0
    for line in run.output.splitlines():
        path, sep, rest = line.partition("\x00")
        number, colon, content = rest.partition(":")
        if not sep or not colon or not number.isdigit() or not workspace.contains(path) or secret_file(path):
            continue
        total += 1
        if len(matches) >= limit:
            continue
        found = matcher.search(content) if matcher is not None else None
        matches.append(
            {
                "file": workspace.relative(path),
                "line": int(number),
                "column": found.start() + 1 if found else 1,
                "matched_text": found.group(0) if found else query,
                "line_content": content,
            }
        )
    return {
        "query": query,
        "matches": matches,
        "total_matches": total,
        "truncated": total > len(matches) or run.truncated,
    }


def _matcher(query: str, *, regex: bool, case_sensitive: bool) -> re.Pattern[str] | None:
    """Where a match starts in its line (grep's ERE and Python's re agree on the common cases)."""
    flags = 0 if case_sensitive else re.IGNORECASE
    try:
        return re.compile(query if regex else re.escape(query), flags)
    except re.error:
        return None


async def create_directory(terminal: Terminal, workspace: Workspace, path: str, *, recursive: bool) -> dict[str, Any]:
    """``path`` is absolute and inside the workspace (the caller made it with ``Workspace.absolute``)."""
    run = await terminal("sh", ["-c", _MKDIR, "sh", path, "-p" if recursive else ""], workspace.cwd, TOOL_TIMEOUT)
    said = run.output.strip().splitlines()[-1:] or [""]
    if run.exit_code != 0 or said[0] not in ("exists", "created"):
        raise _failure("create_directory", run)
    exists = said[0] == "exists"
    return {"success": True, "path": workspace.relative(path), "created": not exists, "already_exists": exists}
