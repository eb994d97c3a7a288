"""The request side of the OpenAI chat-completions schema (responses are built as bytes/dicts on the hot path).

Validated once per request. Fields the proxy cannot honour are refused with a 400 that names them instead of
being silently dropped.

This is also the proxy's one neutral request: every front door (``llm_proxy.doors``) builds it and every provider
reads it. What chat completions has no field for is carried by a few extensions, never sent to an
OpenAI-compatible upstream as they are (``exclude=True``): signed reasoning blocks (``thinking_blocks``, LiteLLM's
name for them), a thinking budget (``thinking``), prompt-cache breakpoints (``cache_control``) and failed tool
results (``is_error``). Each provider maps them where its wire format has a place for them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class FunctionCall(BaseModel):
    name: str
    arguments: str = ""


class ToolCall(BaseModel):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class ImageUrl(BaseModel):
    url: str
    detail: str | None = None


class CacheControl(BaseModel):
    """An Anthropic prompt-cache breakpoint: the prompt up to and including this block is cached. Any value is
    accepted (Anthropic judges it; the other providers never see it), so a breakpoint is never a reason for a 400."""

    model_config = ConfigDict(extra="allow")

    type: str = "ephemeral"
    ttl: str | None = None


class ContentPart(BaseModel):
    """A text or image part of a message; other part types are refused."""

    model_config = ConfigDict(extra="allow")

    type: Literal["text", "image_url"]
    text: str | None = None
    image_url: ImageUrl | None = None
    cache_control: CacheControl | None = Field(None, exclude=True)


class ReasoningBlock(BaseModel):
    """One reasoning block of an earlier assistant turn, as the provider produced it: ``thinking`` text with its
    ``signature``, or ``redacted_thinking`` with its opaque ``data``. Sent back byte for byte."""

    type: Literal["thinking", "redacted_thinking"]
    thinking: str | None = None
    signature: str | None = None
    data: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    reasoning_content: str | None = None
    thinking_blocks: list[ReasoningBlock] | None = Field(None, exclude=True)
    is_error: bool | None = Field(None, exclude=True)

    @model_validator(mode="after")
    def _tool_message_names_its_call(self) -> ChatMessage:
        if self.role == "tool" and not self.tool_call_id:
            raise ValueError("a tool message needs tool_call_id")
        return self

    def text(self) -> str:
        """The message's text, parts joined (images contribute nothing)."""
        if isinstance(self.content, str):
            return self.content
        if self.content:
            return "".join(part.text or "" for part in self.content if part.type == "text")
        return ""

    def reasoning_text(self) -> str:
        """The reasoning of an assistant turn: ``reasoning_content``, else the text of its thinking blocks."""
        if self.reasoning_content:
            return self.reasoning_content
        return "".join(block.thinking or "" for block in self.thinking_blocks or () if block.type == "thinking")


class FunctionDefinition(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1, max_length=128)
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ToolDefinition(BaseModel):
    type: Literal["function"] = "function"
    function: FunctionDefinition
    cache_control: CacheControl | None = Field(None, exclude=True)


class ThinkingConfig(BaseModel):
    """Anthropic's ``thinking``: ``enabled`` with a token budget, ``adaptive`` (the model decides) or ``disabled``."""

    model_config = ConfigDict(extra="allow")

    type: Literal["enabled", "adaptive", "disabled"]
    budget_tokens: int | None = Field(None, ge=1)
    # How hard an ``adaptive`` model thinks (Anthropic's ``output_config.effort``): low, medium, high, max.
    effort: str | None = Field(None, exclude=True)

    @property
    def on(self) -> bool:
        return self.type != "disabled"


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    tools: list[ToolDefinition] | None = None
    tool_choice: Literal["none", "auto", "required"] | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    stop: str | list[str] | None = None
    response_format: dict[str, Any] | None = None
    seed: int | None = None
    user: str | None = None
    n: int | None = Field(None, ge=1)
    logprobs: bool | None = None
    reasoning_effort: str | None = None
    thinking: ThinkingConfig | None = Field(None, exclude=True)

    def unsupported(self) -> tuple[str, str] | None:
        """``(param, message)`` for the first value the proxy cannot honour, else ``None``."""
        if self.n is not None and self.n > 1:
            return "n", "n > 1 is not supported: this proxy returns exactly one choice"
        if self.logprobs:
            return "logprobs", "logprobs are not supported by this proxy"
        if self.response_format and self.response_format.get("type") not in ("text", "json_object", "json_schema"):
            return "response_format", "response_format.type must be text, json_object or json_schema"
        if isinstance(self.stop, list) and len(self.stop) > 4:
            return "stop", "at most 4 stop sequences are supported"
        return None

    @property
    def output_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    @property
    def stop_list(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)


def openapi_components() -> dict[str, Any]:
    """The request schema and its parts, for ``components.schemas`` of the OpenAPI document (the route parses the
    body itself, with orjson, so FastAPI does not register them)."""
    schema = ChatCompletionRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    components: dict[str, Any] = schema.pop("$defs", {})
    components["ChatCompletionRequest"] = schema
    return components
