"""The neutral request → Anthropic Messages request (the request half of the translation).

System and developer messages become ``system``; tool calls become ``tool_use`` blocks and tool messages
``tool_result`` blocks in the next user turn; consecutive same-role turns are merged, since the Messages API wants
strict alternation. Tool pairing is checked here so a broken history gets a clear 400 from us, not from upstream.
Signed reasoning blocks go back first in their assistant turn, byte for byte; unsigned reasoning (from another
provider) has no place here and is left out. ``cache_control`` breakpoints are kept where the client put them; a
model with ``cache: auto`` gets breakpoints on the stable prefix when the client set none.
"""

from __future__ import annotations

from typing import Any

import orjson

from llm_proxy.catalog import ModelEntry
from llm_proxy.errors import ProxyError
from llm_proxy.reasoning import MIN_BUDGET, requested_budget
from llm_proxy.schemas import CacheControl, ChatCompletionRequest, ChatMessage, ContentPart

DEFAULT_MAX_TOKENS = 4096
_EPHEMERAL = {"type": "ephemeral"}


def _bad(message: str, param: str = "messages") -> ProxyError:
    return ProxyError("bad_request", message, param=param)


def image_block(part: ContentPart) -> dict[str, Any]:
    url = part.image_url.url if part.image_url else ""
    if url.startswith("data:"):
        header, _, data = url.partition(",")
        media_type = header[5:].split(";")[0] or "image/png"
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _cached(block: dict[str, Any], cache_control: CacheControl | None) -> dict[str, Any]:
    if cache_control is not None:
        block["cache_control"] = cache_control.model_dump(exclude_none=True)
    return block


def content_blocks(message: ChatMessage) -> list[dict[str, Any]]:
    if isinstance(message.content, str):
        return [{"type": "text", "text": message.content}] if message.content else []
    blocks: list[dict[str, Any]] = []
    for part in message.content or ():
        if part.type == "text" and part.text:
            blocks.append(_cached({"type": "text", "text": part.text}, part.cache_control))
        elif part.type == "image_url":
            blocks.append(_cached(image_block(part), part.cache_control))
    return blocks


def _reasoning_blocks(message: ChatMessage) -> list[dict[str, Any]]:
    """The signed thinking and redacted blocks of an assistant turn, exactly as they were produced."""
    blocks: list[dict[str, Any]] = []
    for block in message.thinking_blocks or ():
        if block.type == "thinking" and block.signature:
            blocks.append({"type": "thinking", "thinking": block.thinking or "", "signature": block.signature})
        elif block.type == "redacted_thinking" and block.data:
            blocks.append({"type": "redacted_thinking", "data": block.data})
    return blocks


def _tool_use(call_id: str, name: str, arguments: str, where: str) -> dict[str, Any]:
    try:
        parsed = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        raise _bad(f"{where}: the arguments of tool call {call_id} are not valid JSON") from None
    if not isinstance(parsed, dict):
        raise _bad(f"{where}: the arguments of tool call {call_id} must be a JSON object")
    return {"type": "tool_use", "id": call_id, "name": name, "input": parsed}


def translate_messages(messages: list[ChatMessage]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(system blocks, messages)`` for the Messages API; raises a 400 ``ProxyError`` on unpaired tool results."""
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    awaiting: dict[str, int] = {}

    def push(role: str, blocks: list[dict[str, Any]]) -> None:
        if not blocks:
            return
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})

    for position, message in enumerate(messages):
        where = f"messages[{position}]"
        if message.role in ("system", "developer"):
            system.extend(content_blocks(message))
        elif message.role == "user":
            push("user", content_blocks(message))
        elif message.role == "assistant":
            blocks = _reasoning_blocks(message) + content_blocks(message)
            for call in message.tool_calls or ():
                blocks.append(_tool_use(call.id, call.function.name, call.function.arguments, where))
                awaiting[call.id] = position
            push("assistant", blocks)
        else:
            call_id = message.tool_call_id or ""
            if awaiting.pop(call_id, None) is None:
                raise _bad(f"{where}: tool result for unknown or already answered tool call '{call_id}'")
            content: str | list[dict[str, Any]] = (
                message.content if isinstance(message.content, str) else content_blocks(message)
            )
            result: dict[str, Any] = {"type": "tool_result", "tool_use_id": call_id, "content": content}
            if message.is_error:
                result["is_error"] = True
            push("user", [result])
    if awaiting:
        call_id, position = next(iter(awaiting.items()))
        raise _bad(f"messages[{position}]: tool call '{call_id}' has no tool result")
    return [b for b in system if b["type"] == "text"], turns


def _system(blocks: list[dict[str, Any]], instruction: str) -> str | list[dict[str, Any]]:
    """One string, unless a block carries a cache breakpoint (then the blocks, as given)."""
    if instruction:
        blocks = [*blocks, {"type": "text", "text": instruction}]
    if any("cache_control" in b for b in blocks):
        return blocks
    return "\n\n".join(b["text"] for b in blocks)


def _tool_choice(request: ChatCompletionRequest) -> dict[str, Any] | None:
    choice = request.tool_choice
    if choice is None and request.parallel_tool_calls is None:
        return None
    result: dict[str, Any]
    if choice in (None, "auto"):
        result = {"type": "auto"}
    elif choice == "none":
        result = {"type": "none"}
    elif choice == "required":
        result = {"type": "any"}
    elif isinstance(choice, dict):
        result = {"type": "tool", "name": str((choice.get("function") or {}).get("name", ""))}
    else:
        raise _bad("tool_choice is not understood", "tool_choice")
    if request.parallel_tool_calls is False and result["type"] != "none":
        result["disable_parallel_tool_use"] = True
    return result


def _json_instruction(request: ChatCompletionRequest) -> str:
    fmt = request.response_format or {}
    if fmt.get("type") == "json_object":
        return "Answer with one JSON object and nothing else."
    if fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema", {})
        return (
            "Answer with one JSON object that matches this JSON Schema, and nothing else: "
            + orjson.dumps(schema).decode()
        )
    return ""


def _thinking(request: ChatCompletionRequest, entry: ModelEntry, max_tokens: int) -> dict[str, Any] | None:
    """Anthropic's ``thinking``: the client's own as given; an effort only for a model that reasons. The budget
    stays below ``max_tokens``, as the API requires (too small a room: no thinking)."""
    thinking = request.thinking
    if thinking is not None and thinking.type != "enabled":
        return thinking.model_dump(exclude_none=True)
    if thinking is None and not entry.reasoning:
        return None
    budget = requested_budget(request)
    if budget is None:
        return None
    budget = min(budget, max_tokens - 1)
    return {"type": "enabled", "budget_tokens": budget} if budget >= MIN_BUDGET else None


def _tools(request: ChatCompletionRequest) -> list[dict[str, Any]]:
    return [
        _cached(
            {
                "name": t.function.name,
                "description": t.function.description or "",
                "input_schema": t.function.parameters or {"type": "object", "properties": {}},
            },
            t.cache_control,
        )
        for t in request.tools or ()
    ]


def _has_breakpoint(body: dict[str, Any]) -> bool:
    system = body.get("system")
    blocks = [*(system if isinstance(system, list) else ()), *body.get("tools", ())]
    for message in body["messages"]:
        blocks.extend(message["content"])
        blocks.extend(b for r in message["content"] if isinstance(r.get("content"), list) for b in r["content"])
    return any("cache_control" in b for b in blocks)


def add_cache_breakpoints(body: dict[str, Any]) -> None:
    """Breakpoints on the stable prefix: the last tool, the end of the system prompt, and the end of the history
    before the newest message (what the next turn will send again). At most three of Anthropic's four."""
    if body.get("tools"):
        body["tools"][-1]["cache_control"] = dict(_EPHEMERAL)
    system = body.get("system")
    if isinstance(system, str) and system:
        body["system"] = [{"type": "text", "text": system, "cache_control": dict(_EPHEMERAL)}]
    elif isinstance(system, list) and system:
        system[-1]["cache_control"] = dict(_EPHEMERAL)
    older = body["messages"][:-1]
    if older:
        last = older[-1]["content"][-1]
        if last.get("type") not in ("thinking", "redacted_thinking"):  # thinking blocks cannot carry one
            last["cache_control"] = dict(_EPHEMERAL)


def request_body(request: ChatCompletionRequest, entry: ModelEntry) -> bytes:
    system_blocks, messages = translate_messages(request.messages)
    system = _system(system_blocks, _json_instruction(request))
    max_tokens = request.output_limit or entry.max_output_tokens or DEFAULT_MAX_TOKENS
    body: dict[str, Any] = {
        "model": entry.upstream_model,
        "max_tokens": max_tokens,
        "messages": messages,
        "stream": True,
    }
    if system:
        body["system"] = system
    if request.tools:
        body["tools"] = _tools(request)
    tool_choice = _tool_choice(request)
    if tool_choice is not None and request.tools:
        body["tool_choice"] = tool_choice
    thinking = _thinking(request, entry, max_tokens)
    if request.thinking is None and body.get("tool_choice", {}).get("type") in ("any", "tool"):
        thinking = None  # Anthropic refuses thinking with a forced tool: an effort alone does not force it on
    if thinking is not None:
        body["thinking"] = thinking
        if request.thinking is not None and request.thinking.effort and thinking["type"] == "adaptive":
            body["output_config"] = {"effort": request.thinking.effort}
    elif request.temperature is not None:  # with thinking on, Anthropic accepts no temperature but 1
        body["temperature"] = min(1.0, request.temperature)  # Anthropic's range is 0-1
    if request.top_p is not None and thinking is None:
        body["top_p"] = request.top_p
    if request.stop_list:
        body["stop_sequences"] = request.stop_list
    if request.user:
        body["metadata"] = {"user_id": request.user}
    if entry.cache == "auto" and not _has_breakpoint(body):
        add_cache_breakpoints(body)
    return orjson.dumps(body)
