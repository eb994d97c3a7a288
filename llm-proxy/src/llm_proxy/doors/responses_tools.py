"""The tools of a ``POST /v1/responses`` request as chat tool definitions: function tools as they are, custom
(free-form input) tools as functions of one string, the tools of ``namespace`` tools under ``<namespace>__<name>``;
hosted tools refused by name (or left out when the proxy is told to ignore them). Also the 400s the door's request
parsing shares."""

from __future__ import annotations

from typing import Any

import structlog
from pydantic import ValidationError

from llm_proxy.doors.responses_items import CUSTOM_INPUT
from llm_proxy.errors import ProxyError, validation_error
from llm_proxy.schemas import FunctionDefinition, ToolDefinition

_log = structlog.get_logger("llm_proxy.responses")


def unsupported(param: str, message: str) -> ProxyError:
    return ProxyError("bad_request", message, param=param, code="unsupported_parameter")


def invalid(param: str, message: str) -> ProxyError:
    return ProxyError("bad_request", message, param=param, code="invalid_request")


NAMESPACE_SEPARATOR = "__"


def qualified_name(namespace: str | None, name: str) -> str:
    """The one name a tool of a ``namespace`` tool (e.g. the Codex CLI's ``multi_agent_v1``) has upstream."""
    return f"{namespace}{NAMESPACE_SEPARATOR}{name}" if namespace else name


def _flat_tools(tools: list[dict[str, Any]] | None) -> list[tuple[str, str | None, dict[str, Any]]]:
    """``(where, namespace, tool)`` for every tool, the tools of ``namespace`` tools in place of their group."""
    flat: list[tuple[str, str | None, dict[str, Any]]] = []
    for index, tool in enumerate(tools or ()):
        group = tool.get("name")
        if tool.get("type") == "namespace" and isinstance(group, str) and group and isinstance(tool.get("tools"), list):
            flat += [(f"tools[{index}].tools[{i}]", group, inner) for i, inner in enumerate(tool["tools"])]
        else:
            flat.append((f"tools[{index}]", None, tool))
    return flat


def custom_tool_names(tools: list[dict[str, Any]] | None) -> frozenset[str]:
    """Upstream names of the request's custom (free-form input) tools: their calls go back as ``custom_tool_call``
    items."""
    return frozenset(
        qualified_name(group, str(t["name"]))
        for _, group, t in _flat_tools(tools)
        if t.get("type") == "custom" and t.get("name")
    )


def namespaced_tool_names(tools: list[dict[str, Any]] | None) -> dict[str, tuple[str, str]]:
    """Upstream name → ``(namespace, name)`` for the tools of the request's ``namespace`` tools: their calls go back
    with the name and its ``namespace``."""
    return {
        qualified_name(group, str(t["name"])): (group, str(t["name"]))
        for _, group, t in _flat_tools(tools)
        if group and t.get("name")
    }


def _custom_definition(tool: dict[str, Any]) -> dict[str, Any]:
    """A custom tool (free-form text input, e.g. the Codex CLI's ``apply_patch``) as a function with one string
    argument; its grammar, if any, is described to the model, since no provider enforces one."""
    fmt = tool.get("format") or {}
    about = "The raw input of the tool."
    if fmt.get("type") == "grammar" and fmt.get("definition"):
        about += f" It must follow this {fmt.get('syntax', 'lark')} grammar:\n{fmt['definition']}"
    parameters = {
        "type": "object",
        "properties": {CUSTOM_INPUT: {"type": "string", "description": about}},
        "required": [CUSTOM_INPUT],
    }
    return {"name": tool.get("name"), "description": tool.get("description"), "parameters": parameters}


def function_tools(tools: list[dict[str, Any]] | None, *, ignore_unsupported: bool) -> list[ToolDefinition] | None:
    """Function tools, and custom tools as functions of one string, as chat tool definitions; the tools of a
    ``namespace`` tool are named ``<namespace>__<name>``. Any other kind (hosted tools such as ``web_search``) is
    refused in one 400 naming them all, or left out with
    ``ignore_unsupported``."""
    if not tools:
        return None
    definitions: list[ToolDefinition] = []
    refused: list[str] = []
    for where, group, tool in _flat_tools(tools):
        kind = str(tool.get("type", ""))
        if kind == "function":
            spec = {k: v for k, v in tool.items() if k != "type"}
        elif kind == "custom":
            spec = _custom_definition(tool)
        else:
            refused.append(f"{where} ({kind or 'no type'}{': ' + str(tool['name']) if tool.get('name') else ''})")
            continue
        if group and isinstance(spec.get("name"), str):
            spec["name"] = qualified_name(group, spec["name"])
        try:
            function = FunctionDefinition.model_validate(spec)
        except ValidationError as exc:
            raise validation_error(exc, param=where) from None
        definitions.append(ToolDefinition(function=function))
    if refused and ignore_unsupported:
        _log.info("responses_tools_ignored", tools=refused)
    elif refused:
        raise unsupported(
            "tools",
            f"only function and custom tools are supported by this proxy; unsupported: {', '.join(refused)}. Turn "
            "them off in the client, or set LLM_PROXY__RESPONSES_UNSUPPORTED_TOOLS=ignore on the proxy to leave them "
            "out",
        )
    return definitions or None


def chat_tool_choice(
    choice: str | dict[str, Any] | None, *, ignore_unsupported: bool = False
) -> str | dict[str, Any] | None:
    """The chat ``tool_choice``; a choice of a tool kind the proxy cannot serve is a 400, or ``auto`` when such
    tools are ignored."""
    if choice is None or choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, dict) and choice.get("type") in ("function", "custom") and choice.get("name"):
        return {"type": "function", "function": {"name": choice["name"]}}
    kind = choice.get("type") if isinstance(choice, dict) else choice
    if ignore_unsupported and isinstance(choice, dict):
        return "auto"
    raise unsupported(
        "tool_choice", f"tool_choice '{kind}' is not supported: use auto, none, required, a function or a custom tool"
    )
