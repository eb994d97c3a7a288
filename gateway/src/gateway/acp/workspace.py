"""The session's working directory on the client's machine, and the absolute paths the client is sent.

The runtime speaks in paths relative to the project root (its own normalisation already refuses absolute paths,
``..`` and look-alikes); ACP clients want absolute paths. Every path that leaves the gateway is made here, joined
to the session's ``cwd`` and checked to stay inside it, whatever the runtime let through. A Windows ``cwd``
(``C:\\work``) gets Windows paths.
"""

from __future__ import annotations

import ntpath
import posixpath
import re

_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")


class OutsideWorkspace(ValueError):
    """A path that would leave the session's working directory."""


class Workspace:
    """``cwd`` is absolute (checked by ``is_absolute`` before a session is made)."""

    __slots__ = ("_flavour", "cwd")

    def __init__(self, cwd: str) -> None:
        self._flavour = ntpath if _DRIVE.match(cwd) or cwd.startswith("\\\\") else posixpath
        self.cwd = self._flavour.normpath(cwd)

    @staticmethod
    def is_absolute(path: str) -> bool:
        return path.startswith("/") or bool(_DRIVE.match(path)) or path.startswith("\\\\")

    def absolute(self, relative: object) -> str:
        """``relative`` (a runtime path, ``.`` for the root) as an absolute path inside ``cwd``."""
        text = str(relative if relative is not None else ".").strip() or "."
        if "\x00" in text:
            raise OutsideWorkspace("a path with a NUL character")
        flavour = self._flavour
        if flavour.isabs(text) or (flavour is ntpath and _DRIVE.match(text)):
            raise OutsideWorkspace(f"absolute path {text!r}: the runtime sends paths relative to the project")
        joined = str(flavour.normpath(flavour.join(self.cwd, text)))
        if not self.contains(joined):
            raise OutsideWorkspace(f"path {text!r} leaves the working directory")
        return joined

    def contains(self, path: str) -> bool:
        flavour = self._flavour
        sep: str = flavour.sep
        cwd, candidate = self.cwd, str(flavour.normpath(path))
        if flavour is ntpath:
            cwd, candidate = cwd.lower(), candidate.lower()
        return candidate == cwd or candidate.startswith(cwd.rstrip(sep) + sep)

    def parent(self, path: str) -> str:
        """The directory holding ``path`` (an absolute path inside ``cwd``), never above ``cwd``."""
        parent = str(self._flavour.dirname(path))
        return parent if self.contains(parent) else self.cwd

    def relative(self, path: str) -> str:
        """An absolute path inside ``cwd`` as the runtime writes it (``/`` separators)."""
        flavour = self._flavour
        rel = str(flavour.relpath(flavour.normpath(path), self.cwd))
        return rel.replace("\\", "/") if flavour is ntpath else rel
