"""Reading a tool call's arguments the way the IDE does: named keys, defaults, lenient about numeric strings."""

from __future__ import annotations

from typing import Any

from codelab_chat.workspace import ToolError

Arguments = dict[str, Any]


def required_str(arguments: Arguments, name: str) -> str:
    """A string argument that must be present."""
    value = arguments.get(name)
    if value is None:
        raise ToolError(f"Missing required argument: {name}")
    if not isinstance(value, str):
        raise ToolError(f"Argument '{name}' must be a string")
    return value


def optional_str(arguments: Arguments, name: str, default: str | None = None) -> str | None:
    """A string argument, or ``default`` when absent or null."""
    value = arguments.get(name)
    if value is None:
        return default
    if not isinstance(value, str):
        raise ToolError(f"Argument '{name}' must be a string")
    return value


def optional_int(arguments: Arguments, name: str, default: int | None = None) -> int | None:
    """An integer argument; models sometimes send ``"5"`` or ``5.0``, which are accepted."""
    value = arguments.get(name)
    if value is None:
        return default
    if isinstance(value, bool):
        raise ToolError(f"Argument '{name}' must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise ToolError(f"Argument '{name}' must be an integer")


def optional_bool(arguments: Arguments, name: str, default: bool) -> bool:
    """A boolean argument; ``"true"``/``"false"`` strings are accepted."""
    value = arguments.get(name)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ToolError(f"Argument '{name}' must be a boolean")
