"""``read_file``, ``write_file``, ``list_files`` and ``create_directory`` with the IDE's arguments and results."""

from __future__ import annotations

import fnmatch
import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from codelab_chat.tools.arguments import Arguments, optional_bool, optional_int, optional_str, required_str
from codelab_chat.tools.limits import ToolLimits
from codelab_chat.workspace import ToolError, Workspace

Result = dict[str, Any]


def read_file(workspace: Workspace, limits: ToolLimits, arguments: Arguments) -> Result:
    """The file's text, or the 1-based inclusive line range ``start_line``..``end_line`` of it."""
    path = required_str(arguments, "path")
    location = workspace.resolve(path)
    if not location.is_file():
        raise ToolError(f"File not found: {path}")
    if location.stat().st_size > limits.max_read_bytes:
        raise ToolError(f"File is too large to read ({location.stat().st_size} bytes): {path}")
    try:
        text = location.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ToolError(f"File is not UTF-8 text: {path}") from exc
    start = optional_int(arguments, "start_line")
    end = optional_int(arguments, "end_line")
    if start is None and end is None:
        return {"success": True, "content": text, "lines_read": len(text.splitlines())}
    lines = text.splitlines(keepends=True)
    first = max(start or 1, 1)
    last = min(end if end is not None else len(lines), len(lines))
    if first > last and not (first == 1 and not lines):
        raise ToolError(f"Invalid line range {start}..{end} for a file of {len(lines)} lines: {path}")
    chosen = lines[first - 1 : last]
    return {"success": True, "content": "".join(chosen), "lines_read": len(chosen)}


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# A new file gets what any program would give it under the user's umask (0644 under the usual 022), not the
# private 0600 of the temporary file it is written through. Read once, at import, before any thread runs.
NEW_FILE_MODE = 0o666 & ~_umask()


def write_file(workspace: Workspace, limits: ToolLimits, arguments: Arguments) -> Result:
    """Write ``content`` (UTF-8) atomically; an existing file is first copied to ``<name>.bak`` when ``backup`` and
    the client keeps backups (``--backups``). A new file gets the umask's mode, an existing one keeps its own."""
    path = required_str(arguments, "path")
    content = required_str(arguments, "content")
    create_dirs = optional_bool(arguments, "create_dirs", False)
    backup = optional_bool(arguments, "backup", True) and limits.keep_backups
    location = workspace.resolve(path)
    if location == workspace.root or location.is_dir():
        raise ToolError(f"Path is a directory: {path}")
    if not location.parent.is_dir():
        if not create_dirs:
            raise ToolError(f"Directory does not exist: {workspace.relative(location.parent)}")
        location.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode("utf-8")
    result: Result = {"success": True, "bytes_written": len(data)}
    if backup and location.is_file():
        backup_location = location.with_name(location.name + ".bak")
        shutil.copy2(location, backup_location)
        result["backup_path"] = workspace.relative(backup_location)
    _replace_atomically(location, data)
    return result


def _replace_atomically(location: Path, data: bytes) -> None:
    # A crash mid-write must not leave the user's file half written.
    handle, temporary = tempfile.mkstemp(dir=location.parent, prefix=f".{location.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        if location.exists():
            shutil.copymode(location, temporary)
        else:
            os.chmod(temporary, NEW_FILE_MODE)
        os.replace(temporary, location)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def create_directory(workspace: Workspace, limits: ToolLimits, arguments: Arguments) -> Result:
    """Create a directory (with its parents when ``recursive``, the default)."""
    path = required_str(arguments, "path")
    recursive = optional_bool(arguments, "recursive", True)
    location = workspace.resolve(path)
    relative = workspace.relative(location)
    if location.is_dir():
        return {"success": True, "path": relative, "created": False, "already_exists": True}
    if location.exists():
        raise ToolError(f"A file with that name exists: {path}")
    if not recursive and not location.parent.is_dir():
        raise ToolError(f"Parent directory does not exist: {workspace.relative(location.parent)}")
    location.mkdir(parents=recursive)
    return {"success": True, "path": relative, "created": True, "already_exists": False}


def list_files(workspace: Workspace, limits: ToolLimits, arguments: Arguments) -> Result:
    """Entries of a directory (recursively when asked), hidden ones only on request, filtered by a name glob."""
    path = required_str(arguments, "path")
    recursive = optional_bool(arguments, "recursive", False)
    include_hidden = optional_bool(arguments, "include_hidden", False)
    pattern = optional_str(arguments, "pattern")
    location = workspace.resolve(path)
    if not location.is_dir():
        raise ToolError(f"Directory not found: {path}")
    items: list[Result] = []
    truncated = False
    for entry in _walk(location, recursive, include_hidden):
        if pattern and not fnmatch.fnmatch(entry.name, pattern):
            continue
        if len(items) >= limits.max_list_items:
            truncated = True
            break
        items.append(_describe(workspace, entry))
    result: Result = {"success": True, "path": workspace.relative(location), "items": items, "total_count": len(items)}
    if truncated:
        result["truncated"] = True
    return result


def _walk(directory: Path, recursive: bool, include_hidden: bool) -> Iterator[Path]:
    # Symlinked directories are listed but never entered: a link may point outside the workspace.
    # A generator, so the item limit also bounds the work on a huge tree.
    pending = [directory]
    while pending:
        current = pending.pop(0)
        try:
            children = sorted(current.iterdir(), key=lambda child: child.name)
        except OSError:
            continue
        for child in children:
            if not include_hidden and child.name.startswith("."):
                continue
            yield child
            if recursive and child.is_dir() and not child.is_symlink():
                pending.append(child)


def _describe(workspace: Workspace, entry: Path) -> Result:
    if entry.is_symlink() and not workspace.contains(entry.resolve()):
        # Say nothing about what lies outside the workspace.
        return {"name": entry.name, "path": workspace.relative(entry), "type": "file"}
    is_dir = entry.is_dir()
    item: Result = {"name": entry.name, "path": workspace.relative(entry), "type": "directory" if is_dir else "file"}
    try:
        status = entry.stat()
    except OSError:
        return item
    if not is_dir:
        item["size"] = status.st_size
    item["modified"] = datetime.fromtimestamp(status.st_mtime, tz=UTC).isoformat()
    return item
