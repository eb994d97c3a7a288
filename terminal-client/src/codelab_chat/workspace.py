"""The workspace folder the IDE tools act on, and the rule that no path leaves it.

A path is checked twice: first as text (the IDE's rules: relative, no ``..``, no ``~``; checked again after
percent-decoding and Unicode NFKC folding, so ``%2e%2e`` or full-width dots cannot smuggle a traversal past a
later layer that decodes them), then as a location: it is resolved with symlinks followed and must still lie
inside the resolved workspace root. The second check is the one that stops symlink escapes.
"""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path, PurePosixPath
from urllib.parse import unquote


class ToolError(Exception):
    """A tool call that cannot be carried out; the message is sent back to the agent as the ``error`` string."""


class PathViolation(ToolError):
    """A path that is not allowed: absolute, traversing, home-relative or escaping the workspace."""


class Workspace:
    """The folder tools run in. Every path a tool receives goes through :meth:`resolve`."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().resolve(strict=True)
        if not self.root.is_dir():
            raise NotADirectoryError(f"workspace is not a directory: {self.root}")

    def resolve(self, path: str) -> Path:
        """The absolute location of ``path`` (relative to the root), or :class:`PathViolation`."""
        _check_text(path)
        relative = path.replace("\\", "/")
        location = (self.root / relative).resolve(strict=False)
        if not self.contains(location):
            raise PathViolation(f"Path escapes the workspace: {path}")
        return location

    def contains(self, location: Path) -> bool:
        """Whether an already resolved location lies inside the workspace root."""
        return location == self.root or self.root in location.parents

    def relative(self, location: Path) -> str:
        """``location`` as the IDE spells it: relative to the root, ``/``-separated, ``.`` for the root."""
        try:
            rel = location.relative_to(self.root)
        except ValueError:
            rel = Path(os.path.relpath(location, self.root))
        text = rel.as_posix()
        return text if text else "."


def _check_text(path: str) -> None:
    if not isinstance(path, str) or not path.strip():
        raise PathViolation("Path must be a non-empty string")
    if "\x00" in path:
        raise PathViolation("Path must not contain NUL characters")
    for form in _spellings(path):
        if form.startswith("~"):
            raise PathViolation(f"Home-relative paths are not allowed: {path}")
        if form.startswith("/") or (len(form) > 1 and form[1] == ":"):
            raise PathViolation(f"Absolute paths are not allowed: {path}")
        if ".." in PurePosixPath(form).parts:
            raise PathViolation(f"Path traversal is not allowed: {path}")


def _spellings(path: str) -> set[str]:
    """The path as written, percent-decoded and NFKC-folded, with backslashes read as separators."""
    decoded = unquote(path)
    forms = {path, decoded, unicodedata.normalize("NFKC", path), unicodedata.normalize("NFKC", decoded)}
    return {form.replace("\\", "/") for form in forms}
