"""The client's tool declaration a frame may carry next to its type (contracts.md: client_tools), parsed like the
frame itself: a wrong type is :class:`InvalidFrame` (400) naming the field."""

from __future__ import annotations

from typing import Any

from agent_runtime.agents.client_tools import declared_tools
from agent_runtime.domain.client_tools import ClientTools
from agent_runtime.runs.frames import InvalidFrame

MAX_DECLARED = 64


def parse_client_tools(message: Any) -> ClientTools | None:
    """``message.client_tools`` (names of the tools the client executes) with ``message.client_tools_options``
    (``{"excludes_secrets": bool}``); None when the frame declares nothing (the session keeps what it had)."""
    if not isinstance(message, dict):
        return None
    names, options = message.get("client_tools"), message.get("client_tools_options")
    if names is None:
        if options is not None:
            raise InvalidFrame("'client_tools_options' needs 'client_tools'", "message.client_tools_options")
        return None
    if not isinstance(names, list) or len(names) > MAX_DECLARED or not all(isinstance(n, str) for n in names):
        raise InvalidFrame(
            f"'client_tools' must be a list of at most {MAX_DECLARED} tool names (strings)", "message.client_tools"
        )
    excludes_secrets = False
    if options is not None:
        if not isinstance(options, dict):
            raise InvalidFrame("'client_tools_options' must be a JSON object", "message.client_tools_options")
        excludes_secrets = options.get("excludes_secrets", False)
        if not isinstance(excludes_secrets, bool):
            raise InvalidFrame(
                "'excludes_secrets' must be true or false", "message.client_tools_options.excludes_secrets"
            )
    return declared_tools(names, excludes_secrets)
