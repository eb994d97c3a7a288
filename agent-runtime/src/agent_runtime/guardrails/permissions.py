"""Which agent may call which tool, and the one path normalisation every path rule uses.

The server enforces these rules whatever the prompt says. A refusal carries a reason written for the model, which
receives it as the failed result of its tool call.

:func:`normalise_path` is deliberately strict: a path the IDE would resolve differently from how we read it is an
attack surface, so anything ambiguous is rejected rather than repaired.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agent_runtime.agents.catalogue import Agent
from agent_runtime.agents.tools import canonical_tool_name, tool_rules

_PERCENT_ESCAPE = re.compile(r"%[0-9a-fA-F]{2}")
_DRIVE = re.compile(r"^[A-Za-z]:")
# Look-alikes of '/', '\' and '.' that NFKC leaves alone.
_LOOKALIKES = frozenset("\u2215\u2044\u29f8\u29f9\u2216\u20e5\u2024\u2025\u2026\u00b7\u02d9\u2e31")


class UnsafePath(Exception):
    """The path cannot be accepted; ``reason`` explains why, for the model."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Allowed:
    """The call may go ahead."""


@dataclass(frozen=True, slots=True)
class Refused:
    """The call is refused; ``reason`` is told to the model and shown to the user, ``rule`` names what refused it."""

    reason: str
    rule: str = "permissions"


Permission = Allowed | Refused


def normalise_path(raw: str) -> str:
    """The canonical relative form of a project path (``"."`` for the root), or :class:`UnsafePath`.

    NFKC-normalised first (fullwidth ``．．／`` become ``../``), then rejected when it contains NUL or control/format
    characters, percent-escapes, backslashes, look-alike slashes or dots, ``~``, a drive letter or ``:``, is absolute,
    or has a ``..`` segment (also ``...`` and segments ending in a dot or space, which Windows trims).
    """
    if not isinstance(raw, str):
        raise UnsafePath("the path must be a string")
    if "\x00" in raw:
        raise UnsafePath("the path contains a NUL character")
    text = unicodedata.normalize("NFKC", raw)
    _reject_characters(text)
    if text.startswith("/"):
        raise UnsafePath("absolute paths are not allowed; use a path relative to the project root")
    if _DRIVE.match(text) or ":" in text:
        raise UnsafePath("drive letters and ':' are not allowed in paths")
    segments = [segment for segment in text.split("/") if segment not in ("", ".")]
    for segment in segments:
        _check_segment(segment)
    return "/".join(segments) or "."


def _reject_characters(text: str) -> None:
    if _PERCENT_ESCAPE.search(text):
        raise UnsafePath("percent-encoded characters are not allowed in paths")
    if "\\" in text:
        raise UnsafePath("backslashes are not allowed in paths; use '/'")
    for char in text:
        if char in _LOOKALIKES:
            raise UnsafePath(f"the character U+{ord(char):04X} looks like a path separator or dot")
        if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp"):
            raise UnsafePath(f"the path contains the control character U+{ord(char):04X}")
    if text != text.strip():
        raise UnsafePath("the path starts or ends with whitespace")


def _check_segment(segment: str) -> None:
    if segment.startswith("~"):
        raise UnsafePath("'~' (home directory) is not allowed in paths")
    if set(segment) == {"."}:
        raise UnsafePath("'..' segments are not allowed; stay inside the project")
    if segment.endswith((".", " ")):
        raise UnsafePath("a path segment may not end with a dot or a space")


def check_permission(agent: Agent, tool_name: str, arguments: Mapping[str, Any]) -> Permission:
    """Whether ``agent`` may make this call: the tool must have a complete spec and be in the agent's list, every
    path and pattern argument of its spec must stay inside the project, and the agent's ``write_extensions`` limit
    the files a writing tool may change."""
    name = canonical_tool_name(tool_name)
    rules = tool_rules(name)
    if rules is None:
        return Refused(f"'{tool_name}' has no complete specification on this server, so it cannot run.", "spec")
    if not agent.allows(name):
        allowed = ", ".join(agent.tools)
        return Refused(f"The {agent.name} agent may not use '{tool_name}'. Its tools are: {allowed}.")
    for key in (*rules.path_args, *rules.pattern_args):
        value = arguments.get(key)
        if value is None:
            continue
        try:
            path = normalise_path(value)
        except UnsafePath as exc:
            return Refused(f"'{key}' of {name} is refused: {exc.reason}.", "path")
        if rules.writes and key in rules.path_args:
            refusal = _write_restriction(agent, path)
            if refusal is not None:
                return refusal
    return Allowed()


def _write_restriction(agent: Agent, path: str) -> Refused | None:
    extensions = agent.restrictions.write_extensions
    if extensions is None:
        return None
    if path.lower().endswith(extensions) and path.rsplit("/", 1)[-1].lower() not in extensions:
        return None
    kinds = ", ".join(extensions)
    return Refused(f"The {agent.name} agent may only write files ending in {kinds}; '{path}' is refused.", "write")
