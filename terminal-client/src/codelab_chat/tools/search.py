"""``search_in_code``: a literal or regex search over the workspace's text files."""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from codelab_chat.tools.arguments import Arguments, optional_bool, optional_int, optional_str, required_str
from codelab_chat.tools.limits import ToolLimits
from codelab_chat.workspace import ToolError, Workspace

_MAX_QUERY_CHARS = 1000
_SKIPPED_DIRS = frozenset({"node_modules", "__pycache__", "build", "dist", ".dart_tool"})


def search_in_code(workspace: Workspace, limits: ToolLimits, arguments: Arguments) -> dict[str, Any]:
    """Matches of ``query`` under ``path``: each with file, 1-based line and column, the text and its line."""
    query = required_str(arguments, "query")
    if not query or len(query) > _MAX_QUERY_CHARS:
        raise ToolError(f"Query must be 1 to {_MAX_QUERY_CHARS} characters long")
    base = workspace.resolve(optional_str(arguments, "path", ".") or ".")
    file_pattern = optional_str(arguments, "file_pattern")
    max_results = max(optional_int(arguments, "max_results", 100) or 100, 1)
    matcher = _compile(
        query, optional_bool(arguments, "regex", False), optional_bool(arguments, "case_sensitive", False)
    )
    matches: list[dict[str, Any]] = []
    total = 0
    for location in _files(workspace, base, file_pattern, limits):
        for number, line in enumerate(_lines(location), start=1):
            for found in matcher.finditer(line):
                total += 1
                if len(matches) < max_results:
                    matches.append(_match(workspace, location, number, found, line, limits))
            if total >= limits.max_search_scan:
                break
        if total >= limits.max_search_scan:
            break
    return {"query": query, "matches": matches, "total_matches": total, "truncated": total > len(matches)}


def _compile(query: str, regex: bool, case_sensitive: bool) -> re.Pattern[str]:
    flags = 0 if case_sensitive else re.IGNORECASE
    try:
        return re.compile(query if regex else re.escape(query), flags)
    except re.error as exc:
        raise ToolError(f"Invalid regular expression: {exc}") from exc


def _files(workspace: Workspace, base: Path, file_pattern: str | None, limits: ToolLimits) -> Iterator[Path]:
    if base.is_file():
        yield base
        return
    if not base.is_dir():
        raise ToolError(f"Path not found: {workspace.relative(base)}")
    # followlinks=False: a symlinked directory may point outside the workspace.
    for directory, subdirs, names in os.walk(base, followlinks=False):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith(".") and d not in _SKIPPED_DIRS)
        for name in sorted(names):
            if name.startswith(".") or (file_pattern and not fnmatch.fnmatch(name, file_pattern)):
                continue
            location = Path(directory, name)
            if _searchable(workspace, location, limits):
                yield location


def _searchable(workspace: Workspace, location: Path, limits: ToolLimits) -> bool:
    try:
        if location.is_symlink() and not workspace.contains(location.resolve()):
            return False
        return location.is_file() and location.stat().st_size <= limits.max_search_file_bytes
    except OSError:
        return False


def _lines(location: Path) -> list[str]:
    try:
        data = location.read_bytes()
    except OSError:
        return []
    if b"\x00" in data[:8192]:
        return []
    return data.decode("utf-8", errors="replace").splitlines()


def _match(
    workspace: Workspace, location: Path, number: int, found: re.Match[str], line: str, limits: ToolLimits
) -> dict[str, Any]:
    return {
        "file": workspace.relative(location),
        "line": number,
        "column": found.start() + 1,
        "matched_text": found.group(0),
        "line_content": line[: limits.max_line_chars],
    }
