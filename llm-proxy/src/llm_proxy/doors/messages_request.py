"""``POST /v1/messages`` request (Anthropic Messages API) → the neutral ``ChatCompletionRequest`` every provider takes.

``system`` (a string or text blocks) and ``role: "system"`` messages become system messages; a user turn's
``tool_result`` blocks become tool messages (``is_error`` and text/image content kept) followed by the rest of the
turn; an assistant turn's ``tool_use`` blocks become its tool calls (``input`` encoded once, key order and
characters kept) and its ``thinking``/``redacted_thinking`` blocks its signed reasoning blocks. ``cache_control``
rides on the parts and tools it marks. What the proxy cannot honour (server tools, documents, citations…) is
refused with a 400 that names it; headers and fields that only matter to Anthropic's own service (``anthropic-beta``,
``context_management``, ``container``…) are tolerated and left out.
"""

from __future__ import annotations

from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from llm_proxy.doors.common import parse_json
from llm_proxy.errors import ProxyError
from llm_proxy.schemas import (
    CacheControl,
    ChatCompletionRequest,
    ChatMessage,
    ContentPart,
    FunctionCall,
    FunctionDefinition,
    ImageUrl,
    ReasoningBlock,
    ThinkingConfig,
    ToolCall,
    ToolDefinition,
)

# Tool ``type``s of client tools; any other (web_search_…, bash_…, text_editor_…, code_execution_…) is a server tool.
_CLIENT_TOOL_TYPES = {None, "custom"}


class MessagesTool(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1, max_length=128)
    type: str | None = None
    description: str | None = None
    input_schema: dict[str, Any] | None = None
    cache_control: CacheControl | None = None


class MessagesInput(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["user", "assistant", "system"]
    content: str | list[dict[str, Any]]


class MessagesMetadata(BaseModel):
    model_config = ConfigDict(extra="allow")

    user_id: str | None = None


class MessagesRequest(BaseModel):
    """The body of ``POST /v1/messages`` (and of ``/v1/messages/count_tokens``, which needs no ``max_tokens``)."""

    model_config = ConfigDict(extra="allow")

    model: str | None = None
    messages: list[MessagesInput] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    system: str | list[dict[str, Any]] | None = None
    tools: list[MessagesTool] | None = None
    tool_choice: dict[str, Any] | None = None
    stop_sequences: list[str] | None = None
    temperature: float | None = Field(None, ge=0, le=1)
    top_p: float | None = Field(None, ge=0, le=1)
    top_k: int | None = Field(None, ge=0)
    stream: bool = False
    thinking: ThinkingConfig | None = None
    metadata: MessagesMetadata | None = None


def _bad(message: str, param: str) -> ProxyError:
    return ProxyError("bad_request", message, param=param, code="invalid_request")


def parse_messages_request(raw: bytes, *, needs_max_tokens: bool = True) -> MessagesRequest:
    body = parse_json(MessagesRequest, raw)
    if needs_max_tokens and body.max_tokens is None:
        raise _bad("max_tokens: Field required", "max_tokens")
    if (body.model_extra or {}).get("mcp_servers"):
        raise _bad("mcp_servers are not supported by this proxy: the model would not get their tools", "mcp_servers")
    return body


def _cache(block: dict[str, Any]) -> CacheControl | None:
    raw = block.get("cache_control")
    return CacheControl.model_validate(raw) if isinstance(raw, dict) else None


def _image(block: dict[str, Any], where: str) -> ContentPart:
    source = block.get("source") or {}
    if source.get("type") == "base64":
        url = f"data:{source.get('media_type', 'image/png')};base64,{source.get('data', '')}"
    elif source.get("type") == "url":
        url = str(source.get("url", ""))
    else:
        raise _bad(f"{where}: image source type '{source.get('type')}' is not supported (base64 or url)", where)
    return ContentPart(type="image_url", image_url=ImageUrl(url=url), cache_control=_cache(block))


def _part(block: dict[str, Any], where: str) -> ContentPart:
    kind = block.get("type")
    if kind == "text":
        return ContentPart(type="text", text=str(block.get("text", "")), cache_control=_cache(block))
    if kind == "image":
        return _image(block, where)
    raise _bad(f"{where}: content blocks of type '{kind}' are not supported here", where)


def _content(blocks: str | list[dict[str, Any]], where: str) -> str | list[ContentPart]:
    """A string stays a string, as does one plain text block; anything else is a list of parts."""
    if isinstance(blocks, str):
        return blocks
    parts = [_part(block, f"{where}[{i}]") for i, block in enumerate(blocks)]
    if len(parts) == 1 and parts[0].type == "text" and parts[0].cache_control is None:
        return parts[0].text or ""
    return parts


def _user_turn(message: MessagesInput, where: str) -> list[ChatMessage]:
    """Tool results first (each its own tool message, as chat completions wants right after the calls), then the
    rest of the turn as one user message."""
    if isinstance(message.content, str):
        return [ChatMessage(role="user", content=message.content)]
    results: list[ChatMessage] = []
    rest: list[dict[str, Any]] = []
    for index, block in enumerate(message.content):
        if block.get("type") != "tool_result":
            rest.append(block)
            continue
        at = f"{where}.content[{index}]"
        call_id = block.get("tool_use_id")
        if not isinstance(call_id, str) or not call_id:
            raise _bad(f"{at}: a tool_result needs tool_use_id", at)
        content = block.get("content", "")
        results.append(
            ChatMessage(
                role="tool",
                tool_call_id=call_id,
                content=_content(content if isinstance(content, str | list) else str(content), f"{at}.content"),
                is_error=bool(block.get("is_error")) or None,
            )
        )
    if rest:
        results.append(ChatMessage(role="user", content=_content(rest, f"{where}.content")))
    return results


def _assistant_turn(message: MessagesInput, where: str) -> ChatMessage:
    if isinstance(message.content, str):
        return ChatMessage(role="assistant", content=message.content)
    parts: list[dict[str, Any]] = []
    calls: list[ToolCall] = []
    reasoning: list[ReasoningBlock] = []
    for index, block in enumerate(message.content):
        at = f"{where}.content[{index}]"
        kind = block.get("type")
        if kind == "tool_use":
            arguments = orjson.dumps(block.get("input") or {}).decode()
            call = FunctionCall(name=str(block.get("name", "")), arguments=arguments)
            calls.append(ToolCall(id=str(block.get("id", "")), function=call))
        elif kind == "thinking":
            reasoning.append(
                ReasoningBlock(type="thinking", thinking=block.get("thinking"), signature=block.get("signature"))
            )
        elif kind == "redacted_thinking":
            reasoning.append(ReasoningBlock(type="redacted_thinking", data=block.get("data")))
        elif kind == "text" and not block.get("text"):
            continue  # an empty text block is nothing to send back (and some upstreams refuse it)
        else:
            parts.append(block)
            _part(block, at)  # refuses what cannot be an assistant's content
    return ChatMessage(
        role="assistant",
        content=_content(parts, f"{where}.content") if parts else None,
        tool_calls=calls or None,
        thinking_blocks=reasoning or None,
    )


def _system_message(system: str | list[dict[str, Any]], where: str) -> ChatMessage:
    return ChatMessage(role="system", content=_content(system, where))


def _tools(tools: list[MessagesTool]) -> list[ToolDefinition]:
    server = [t.name for t in tools if t.type not in _CLIENT_TOOL_TYPES]
    if server:
        raise _bad(
            f"server tools are not supported by this proxy ({', '.join(server)}): only client tools with an "
            "input_schema",
            "tools",
        )
    return [
        ToolDefinition(
            function=FunctionDefinition(
                name=t.name,
                description=t.description,
                parameters=t.input_schema or {"type": "object", "properties": {}},
            ),
            cache_control=t.cache_control,
        )
        for t in tools
    ]


def _tool_choice(choice: dict[str, Any]) -> tuple[Literal["none", "auto", "required"] | dict[str, Any], bool | None]:
    """``(tool_choice, parallel_tool_calls)`` in chat terms."""
    kind = choice.get("type")
    parallel = False if choice.get("disable_parallel_tool_use") else None
    if kind == "auto":
        return "auto", parallel
    if kind == "any":
        return "required", parallel
    if kind == "none":
        return "none", None
    if kind == "tool" and choice.get("name"):
        return {"type": "function", "function": {"name": str(choice["name"])}}, parallel
    raise _bad("tool_choice.type must be auto, any, tool (with a name) or none", "tool_choice")


def _thinking(body: MessagesRequest) -> ThinkingConfig | None:
    """``thinking`` with the effort of ``output_config`` (what Claude Code sends with adaptive thinking)."""
    output = (body.model_extra or {}).get("output_config")
    effort = output.get("effort") if isinstance(output, dict) else None
    if body.thinking is None or not isinstance(effort, str):
        return body.thinking
    return body.thinking.model_copy(update={"effort": effort})


def neutral_request(body: MessagesRequest) -> ChatCompletionRequest:
    """The neutral request; raises a 400 ``ProxyError`` naming what cannot be honoured."""
    messages: list[ChatMessage] = []
    if body.system:
        messages.append(_system_message(body.system, "system"))
    for position, message in enumerate(body.messages):
        where = f"messages[{position}]"
        if message.role == "system":
            messages.append(_system_message(message.content, f"{where}.content"))
        elif message.role == "user":
            messages.extend(_user_turn(message, where))
        else:
            messages.append(_assistant_turn(message, where))
    request = ChatCompletionRequest(
        model=body.model,
        messages=messages,
        stream=body.stream,
        max_tokens=body.max_tokens,
        temperature=body.temperature,
        top_p=body.top_p,
        stop=body.stop_sequences or None,
        tools=_tools(body.tools) if body.tools else None,
        user=body.metadata.user_id if body.metadata else None,
        thinking=_thinking(body),
    )
    if body.tool_choice is not None:
        request.tool_choice, request.parallel_tool_calls = _tool_choice(body.tool_choice)
    return request
