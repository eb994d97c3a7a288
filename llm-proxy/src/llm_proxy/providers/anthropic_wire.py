"""OpenAI chat request → Anthropic Messages request (the request half of the translation).

System and developer messages become ``system``; tool calls become ``tool_use`` blocks and tool messages
``tool_result`` blocks in the next user turn; consecutive same-role turns are merged, since the Messages API wants
strict alternation. Tool pairing is checked here so a broken history gets a clear 400 from us, not from upstream.
"""

from __future__ import annotations

from typing import Any

import orjson

from llm_proxy.catalog import ModelEntry
from llm_proxy.errors import ProxyError
from llm_proxy.schemas import ChatCompletionRequest, ChatMessage, ContentPart

DEFAULT_MAX_TOKENS = 4096


def _bad(message: str, param: str = "messages") -> ProxyError:
    return ProxyError("bad_request", message, param=param)


def image_block(part: ContentPart) -> dict[str, Any]:
    url = part.image_url.url if part.image_url else ""
    if url.startswith("data:"):
        header, _, data = url.partition(",")
        media_type = header[5:].split(";")[0] or "image/png"
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def content_blocks(message: ChatMessage) -> list[dict[str, Any]]:
    if isinstance(message.content, str):
        return [{"type": "text", "text": message.content}] if message.content else []
    blocks: list[dict[str, Any]] = []
    for part in message.content or ():
        if part.type == "text" and part.text:
            blocks.append({"type": "text", "text": part.text})
        elif part.type == "image_url":
            blocks.append(image_block(part))
    return blocks


def _tool_use(call_id: str, name: str, arguments: str, where: str) -> dict[str, Any]:
    try:
        parsed = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        raise _bad(f"{where}: the arguments of tool call {call_id} are not valid JSON") from None
    if not isinstance(parsed, dict):
        raise _bad(f"{where}: the arguments of tool call {call_id} must be a JSON object")
    return {"type": "tool_use", "id": call_id, "name": name, "input": parsed}


def translate_messages(messages: list[ChatMessage]) -> tuple[str, list[dict[str, Any]]]:
    """``(system, messages)`` for the Messages API; raises a 400 ``ProxyError`` on unpaired tool results."""
    system: list[str] = []
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
            system.append(message.text())
        elif message.role == "user":
            push("user", content_blocks(message))
        elif message.role == "assistant":
            blocks = content_blocks(message)
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
            result = {"type": "tool_result", "tool_use_id": call_id, "content": content}
            push("user", [result])
    if awaiting:
        call_id, position = next(iter(awaiting.items()))
        raise _bad(f"messages[{position}]: tool call '{call_id}' has no tool result")
    return "\n\n".join(s for s in system if s), turns


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


def request_body(request: ChatCompletionRequest, entry: ModelEntry) -> bytes:
    system, messages = translate_messages(request.messages)
    instruction = _json_instruction(request)
    if instruction:
        system = f"{system}\n\n{instruction}" if system else instruction
    body: dict[str, Any] = {
        "model": entry.upstream_model,
        "max_tokens": request.output_limit or entry.max_output_tokens or DEFAULT_MAX_TOKENS,
        "messages": messages,
        "stream": True,
    }
    if system:
        body["system"] = system
    if request.tools:
        body["tools"] = [
            {
                "name": t.function.name,
                "description": t.function.description or "",
                "input_schema": t.function.parameters or {"type": "object", "properties": {}},
            }
            for t in request.tools
        ]
    tool_choice = _tool_choice(request)
    if tool_choice is not None and request.tools:
        body["tool_choice"] = tool_choice
    if request.temperature is not None:
        body["temperature"] = min(1.0, request.temperature)  # Anthropic's range is 0-1
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.stop_list:
        body["stop_sequences"] = request.stop_list
    if request.user:
        body["metadata"] = {"user_id": request.user}
    return orjson.dumps(body)
