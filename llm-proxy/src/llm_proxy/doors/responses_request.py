"""``POST /v1/responses`` request → the neutral ``ChatCompletionRequest`` every provider takes.

Input items become chat messages: ``message`` items keep their role, an assistant's ``function_call`` items join
its tool calls, ``function_call_output`` items become tool messages and ``reasoning`` items travel with the assistant
turn they precede. ``instructions`` is the first system message. Parameters the proxy cannot honour (hosted tools,
background mode, logprobs, stored prompts, conversations) are refused with a 400 naming them instead of being dropped.
"""

from __future__ import annotations

from typing import Any, Literal

import orjson
import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from llm_proxy.doors.common import parse_json
from llm_proxy.doors.responses_items import CUSTOM_INPUT, unseal
from llm_proxy.doors.responses_tools import chat_tool_choice, function_tools, invalid, qualified_name, unsupported
from llm_proxy.errors import validation_error
from llm_proxy.schemas import (
    ChatCompletionRequest,
    ChatMessage,
    ContentPart,
    FunctionCall,
    ImageUrl,
    ToolCall,
)

_log = structlog.get_logger("llm_proxy.responses")

# Fields of the Responses API with no meaning behind this proxy: a request setting them gets a 400 naming them.
_REFUSED_FIELDS = {
    "background": "background mode is not supported: send the request and read its stream",
    "conversation": "conversations are not supported: use previous_response_id or send the history",
    "prompt": "stored prompt templates are not supported: send instructions and input",
    "top_logprobs": "logprobs are not supported by this proxy",
    "max_tool_calls": "max_tool_calls is not supported by this proxy",
}
# ``include`` values that ask for something the proxy can produce, or that concern hosted tools it never runs
# (so there is never anything to include); logprobs it cannot produce.
_INCLUDABLE = {
    "reasoning.encrypted_content",
    "message.input_image.image_url",
    "computer_call_output.output.image_url",
    "file_search_call.results",
    "web_search_call.results",
    "web_search_call.action.sources",
    "code_interpreter_call.outputs",
}


class ReasoningOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] | None = None
    summary: Literal["auto", "concise", "detailed"] | None = None


class TextOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    format: dict[str, Any] | None = None
    verbosity: Literal["low", "medium", "high"] | None = None


class ResponsesRequest(BaseModel):
    """The body of ``POST /v1/responses``; unknown fields are tolerated (clients add new ones often)."""

    model_config = ConfigDict(extra="allow")

    model: str | None = None
    input: str | list[dict[str, Any]] = Field(default_factory=list)
    instructions: str | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    max_output_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    reasoning: ReasoningOptions | None = None
    store: bool | None = None
    previous_response_id: str | None = None
    include: list[str] | None = None
    text: TextOptions | None = None
    stream: bool = False
    metadata: dict[str, str] | None = None
    user: str | None = None

    @property
    def stored(self) -> bool:
        """``store`` defaults to true, as in the OpenAI API."""
        return self.store is not False


def parse_responses_request(raw: bytes) -> ResponsesRequest:
    """Validate the body; a value the proxy cannot honour is a 400 naming its parameter."""
    body = parse_json(ResponsesRequest, raw)
    extra = body.model_extra or {}
    for field, reason in _REFUSED_FIELDS.items():
        if extra.get(field) not in (None, False):
            raise unsupported(field, reason)
    for value in body.include or ():
        if value not in _INCLUDABLE:
            raise unsupported("include", f"include value '{value}' is not supported by this proxy")
    return body


def response_format(text: TextOptions | None) -> dict[str, Any] | None:
    """``text.format`` → the chat ``response_format`` (json_schema keeps its name, schema and strictness)."""
    fmt = text.format if text else None
    if not fmt or fmt.get("type") == "text":
        return None
    if fmt.get("type") == "json_object":
        return {"type": "json_object"}
    if fmt.get("type") == "json_schema":
        if not isinstance(fmt.get("schema"), dict):
            raise invalid("text.format.schema", "text.format of type json_schema needs a schema object")
        schema = {"name": fmt.get("name") or "response", "schema": fmt["schema"]}
        for key in ("strict", "description"):
            if fmt.get(key) is not None:
                schema[key] = fmt[key]
        return {"type": "json_schema", "json_schema": schema}
    raise unsupported("text.format", "text.format.type must be text, json_object or json_schema")


class _Turns:
    """Chat messages built from input items; an assistant turn stays open while its items keep coming."""

    def __init__(self) -> None:
        self.messages: list[ChatMessage] = []
        self._assistant: ChatMessage | None = None

    def close(self) -> None:
        if self._assistant is not None:
            self.messages.append(self._assistant)
            self._assistant = None

    def assistant(self) -> ChatMessage:
        if self._assistant is None:
            self._assistant = ChatMessage(role="assistant", content=None)
        return self._assistant

    def add(self, message: ChatMessage) -> None:
        self.close()
        self.messages.append(message)


def input_messages(items: str | list[dict[str, Any]]) -> list[ChatMessage]:
    """The ``input`` (a string or items) as chat messages."""
    if isinstance(items, str):
        return [ChatMessage(role="user", content=items)]
    turns = _Turns()
    for index, item in enumerate(items):
        kind = item.get("type") or ("message" if "role" in item else None)
        where = f"input[{index}]"
        if kind == "message":
            _message(turns, item, where)
        elif kind == "function_call":
            _function_call(turns, item, where)
        elif kind == "custom_tool_call":
            _function_call(turns, {**item, "arguments": _custom_arguments(item, where)}, where)
        elif kind in ("function_call_output", "custom_tool_call_output"):
            call_id = _string(item, "call_id", where)
            turns.add(ChatMessage(role="tool", tool_call_id=call_id, content=_output_text(item.get("output"), where)))
        elif kind == "reasoning":
            _reasoning(turns, item, where)
        else:
            raise unsupported(where, f"input item type '{kind}' is not supported by this proxy")
    turns.close()
    return turns.messages


def _string(item: dict[str, Any], key: str, where: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value:
        raise invalid(f"{where}.{key}", f"{where}.{key} must be a non-empty string")
    return value


def _message(turns: _Turns, item: dict[str, Any], where: str) -> None:
    role = item.get("role")
    content = item.get("content")
    if role == "assistant":
        text = content if isinstance(content, str) else _assistant_text(content, where)
        turn = turns.assistant()
        if turn.tool_calls:  # a text after the calls opens the next turn
            turns.close()
            turn = turns.assistant()
        turn.content = (turn.content or "") + text if isinstance(turn.content, str) else text
        return
    if role not in ("user", "system", "developer"):
        raise invalid(f"{where}.role", f"{where}.role must be user, system, developer or assistant")
    if role == "developer":
        # The Responses API's name for system instructions; many OpenAI-compatible servers' chat templates know only
        # "system" (and drop other roles silently), while OpenAI treats the two alike.
        role = "system"
    if isinstance(content, str):
        turns.add(ChatMessage(role=role, content=content))
        return
    if not isinstance(content, list):
        raise invalid(f"{where}.content", f"{where}.content must be a string or a list of parts")
    turns.add(
        ChatMessage(role=role, content=[_input_part(part, f"{where}.content[{i}]") for i, part in enumerate(content)])
    )


def _input_part(part: dict[str, Any], where: str) -> ContentPart:
    kind = part.get("type")
    if kind in ("input_text", "output_text", "text"):
        return ContentPart(type="text", text=str(part.get("text", "")))
    if kind == "input_image":
        url = part.get("image_url")
        if not isinstance(url, str) or not url:
            raise unsupported(where, "images are supported as image_url (an https: or data: URL), not file_id")
        return ContentPart(type="image_url", image_url=ImageUrl(url=url, detail=part.get("detail")))
    raise unsupported(where, f"content part type '{kind}' is not supported by this proxy")


def _assistant_text(content: Any, where: str) -> str:
    if not isinstance(content, list):
        raise invalid(f"{where}.content", f"{where}.content must be a string or a list of parts")
    texts = []
    for i, part in enumerate(content):
        if part.get("type") in ("output_text", "input_text", "text"):
            texts.append(str(part.get("text", "")))
        elif part.get("type") == "refusal":
            texts.append(str(part.get("refusal", "")))
        else:
            raise unsupported(f"{where}.content[{i}]", f"content part type '{part.get('type')}' is not supported")
    return "".join(texts)


def _function_call(turns: _Turns, item: dict[str, Any], where: str) -> None:
    call_id = _string(item, "call_id", where)
    namespace = item.get("namespace")
    name = qualified_name(namespace if isinstance(namespace, str) else None, _string(item, "name", where))
    arguments = item.get("arguments", "")
    if not isinstance(arguments, str):
        raise invalid(f"{where}.arguments", f"{where}.arguments must be a string (JSON text)")
    turn = turns.assistant()
    turn.tool_calls = [
        *(turn.tool_calls or ()),
        ToolCall(id=call_id, function=FunctionCall(name=name, arguments=arguments)),
    ]


def _custom_arguments(item: dict[str, Any], where: str) -> str:
    value = item.get(CUSTOM_INPUT)
    if not isinstance(value, str):
        raise invalid(f"{where}.input", f"{where}.input must be a string")
    return orjson.dumps({CUSTOM_INPUT: value}).decode()


def _output_text(output: Any, where: str) -> str:
    if isinstance(output, str):
        return output
    if isinstance(output, list):
        texts = []
        for i, part in enumerate(output):
            if isinstance(part, dict) and part.get("type") in ("input_text", "output_text", "text"):
                texts.append(str(part.get("text", "")))
            else:
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise unsupported(f"{where}.output[{i}]", f"tool output part '{kind}' is not supported; send text")
        return "".join(texts)
    raise invalid(f"{where}.output", f"{where}.output must be a string or a list of text parts")


def _reasoning(turns: _Turns, item: dict[str, Any], where: str) -> None:
    """A reasoning item belongs to the assistant turn in progress (or opens one). Its text (``reasoning_text``
    content, else the summary, else the sealed block's) is the turn's reasoning; a block the proxy sealed into its
    ``encrypted_content`` goes back upstream byte for byte where the provider has a place for it. Another API's
    encrypted reasoning means nothing here and is left out."""
    turn = turns.assistant()
    sealed = item.get("encrypted_content")
    if sealed is not None and not isinstance(sealed, str):
        raise invalid(f"{where}.encrypted_content", f"{where}.encrypted_content must be a string")
    block = unseal(sealed) if sealed else None
    texts = [str(p.get("text", "")) for p in item.get("content") or () if isinstance(p, dict)]
    if not texts:
        texts = [str(p.get("text", "")) for p in item.get("summary") or () if isinstance(p, dict)]
    if not texts and block is not None and block.thinking:
        texts = [block.thinking]
    if texts:
        turn.reasoning_content = (turn.reasoning_content or "") + "".join(texts)
    if block is not None:
        turn.thinking_blocks = [*(turn.thinking_blocks or ()), block]


def chat_request(
    body: ResponsesRequest, history: list[ChatMessage], *, ignore_unsupported_tools: bool
) -> tuple[ChatCompletionRequest, list[ChatMessage]]:
    """The neutral request, and the conversation it carries without the instructions (what a later
    ``previous_response_id`` continues from: instructions are not carried over, as in the OpenAI API)."""
    conversation = [*history, *input_messages(body.input)]
    messages = list(conversation)
    if body.instructions:
        messages.insert(0, ChatMessage(role="system", content=body.instructions))
    if not messages:
        raise invalid("input", "input is empty and there is no previous response to continue")
    fields: dict[str, Any] = {
        "model": body.model,
        "messages": messages,
        "tools": function_tools(body.tools, ignore_unsupported=ignore_unsupported_tools),
        "tool_choice": chat_tool_choice(body.tool_choice, ignore_unsupported=ignore_unsupported_tools),
        "parallel_tool_calls": body.parallel_tool_calls,
        "max_completion_tokens": body.max_output_tokens,
        "temperature": body.temperature,
        "top_p": body.top_p,
        "response_format": response_format(body.text),
        "user": body.user,
    }
    if body.reasoning and body.reasoning.effort:
        fields["reasoning_effort"] = body.reasoning.effort
    try:
        request = ChatCompletionRequest(**{k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        raise validation_error(exc, fallback="input") from None
    return request, conversation
