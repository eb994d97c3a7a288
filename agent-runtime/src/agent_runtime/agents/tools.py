"""Tool schemas the agents offer the model, and validation of the arguments a model sends back.

IDE tools are executed by the IDE and keep its exact argument names and defaults (ide-protocol §4). Runtime tools are
handled inside the runtime and are never sent to the IDE. One JSON-schema subset describes each tool; the same schema
feeds the OpenAI ``tools`` list and :func:`validate_arguments`, so what the model is told is what is enforced.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import orjson

from agent_runtime.agents.tool_specs import IDE_SPECS, RUNTIME_SPECS, ToolRules, ToolSpec

ALL_SPECS: dict[str, ToolSpec] = {**IDE_SPECS, **RUNTIME_SPECS}
# Tools a client executes: those whose spec names the client capability that runs them (derived, never listed).
IDE_TOOLS: frozenset[str] = frozenset(
    name for name, spec in ALL_SPECS.items() if spec.rules is not None and spec.rules.client_capability is not None
)
RUNTIME_TOOLS: frozenset[str] = frozenset(RUNTIME_SPECS)

# Names the IDE or older models use for a tool we know under another name.
_ALIASES = {"run_command": "execute_command"}
_ARGUMENT_ALIASES = {"switch_mode": {"agent": "mode"}}


class InvalidToolCall(Exception):
    """A tool call the model got wrong; ``message`` is written for the model so it can correct itself."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A validated call: the canonical tool name and its arguments as a JSON object."""

    name: str
    arguments: dict[str, Any]


def canonical_tool_name(name: str) -> str:
    """The tool's canonical name (``run_command`` → ``execute_command``); unknown names are returned unchanged."""
    return _ALIASES.get(name, name)


def is_ide_tool(name: str) -> bool:
    """Whether the IDE executes this tool (after alias normalisation)."""
    return canonical_tool_name(name) in IDE_TOOLS


def tool_rules(name: str) -> ToolRules | None:
    """The policy rules of a tool; None for an unknown tool or an incomplete spec (never offered nor run)."""
    spec = ALL_SPECS.get(canonical_tool_name(name))
    return None if spec is None else spec.rules


@functools.cache
def tool_schemas(names: tuple[str, ...]) -> list[dict[str, Any]]:
    """OpenAI ``tools`` entries (``{"type": "function", "function": {...}}``) for the given tool names, in order,
    leaving out tools whose spec is incomplete; built once per tool set (every model call sends them): the list is
    shared, callers must not change it."""
    return [ALL_SPECS[canonical_tool_name(name)].openai() for name in names if tool_rules(name) is not None]


def validate_tool_call(name: str, raw_arguments: str | dict[str, Any] | None) -> ToolCall:
    """Parse and check a model's tool call; raise :class:`InvalidToolCall` with a message the model can act on.

    ``raw_arguments`` is the JSON text of an OpenAI tool call (or an already parsed object). Integers stay integers;
    a float with an integral value (``60.0``) is accepted for an integer field and becomes ``60``.
    """
    canonical = canonical_tool_name(name)
    spec = ALL_SPECS.get(canonical)
    if spec is None:
        known = ", ".join(sorted(ALL_SPECS))
        raise InvalidToolCall(f"Unknown tool '{name}'. Available tools: {known}.")
    arguments = _parse_arguments(canonical, raw_arguments)
    for alias, target in _ARGUMENT_ALIASES.get(canonical, {}).items():
        if alias in arguments and target not in arguments:
            arguments[target] = arguments.pop(alias)
    try:
        checked = _check_value(spec.parameters, arguments, "arguments")
    except InvalidToolCall as exc:
        raise InvalidToolCall(f"Invalid arguments for tool '{canonical}': {exc.message}") from None
    return ToolCall(canonical, checked)


def _parse_arguments(name: str, raw: str | dict[str, Any] | None) -> dict[str, Any]:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    if isinstance(raw, dict):
        return dict(raw)
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidToolCall(
            f'The arguments of tool \'{name}\' are not valid JSON. Send one JSON object, e.g. {{"path": "README.md"}}.'
        ) from None
    if not isinstance(parsed, dict):
        raise InvalidToolCall(f"The arguments of tool '{name}' must be a JSON object, not {_json_type(parsed)}.")
    return parsed


def _check_value(schema: dict[str, Any], value: Any, where: str) -> Any:
    kind = schema["type"]
    if kind == "object":
        return _check_object(schema, value, where)
    if kind == "array":
        if not isinstance(value, list):
            raise InvalidToolCall(f"'{where}' must be an array, got {_json_type(value)}.")
        item_schema = schema["items"]
        return [_check_value(item_schema, item, f"{where}[{index}]") for index, item in enumerate(value)]
    return _check_scalar(kind, schema, value, where)


def _check_object(schema: dict[str, Any], value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidToolCall(f"'{where}' must be an object, got {_json_type(value)}.")
    properties: dict[str, Any] = schema.get("properties", {})
    unknown = sorted(set(value) - set(properties))
    if unknown:
        raise InvalidToolCall(f"'{where}' has unknown keys {unknown}; allowed keys: {sorted(properties)}.")
    missing = [key for key in schema.get("required", ()) if value.get(key) is None]
    if missing:
        raise InvalidToolCall(f"'{where}' is missing required keys {missing}.")
    # An explicit null for an optional key means "use the default": drop it rather than send null to the IDE.
    return {
        key: _check_value(properties[key], item, f"{where}.{key}" if where != "arguments" else key)
        for key, item in value.items()
        if item is not None
    }


def _check_scalar(kind: str | list[str], schema: dict[str, Any], value: Any, where: str) -> Any:
    kinds = [kind] if isinstance(kind, str) else kind
    for candidate in kinds:
        if candidate == "string" and isinstance(value, str):
            limit = schema.get("maxLength")
            if limit is not None and len(value) > limit:
                raise InvalidToolCall(f"'{where}' is longer than {limit} characters.")
            if "enum" in schema and value not in schema["enum"]:
                raise InvalidToolCall(f"'{where}' must be one of {schema['enum']}, got '{value}'.")
            return value
        if candidate == "boolean" and isinstance(value, bool):
            return value
        if candidate == "integer" and not isinstance(value, bool):
            if isinstance(value, int):
                return _check_minimum(schema, value, where)
            if isinstance(value, float) and value.is_integer():
                return _check_minimum(schema, int(value), where)
        if candidate == "number" and isinstance(value, int | float) and not isinstance(value, bool):
            return value
    expected = " or ".join(kinds)
    raise InvalidToolCall(f"'{where}' must be {_article(expected)} {expected}, got {_json_type(value)}.")


def _check_minimum(schema: dict[str, Any], value: int, where: str) -> int:
    minimum = schema.get("minimum")
    if minimum is not None and value < minimum:
        raise InvalidToolCall(f"'{where}' must be at least {minimum}, got {value}.")
    return value


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"
