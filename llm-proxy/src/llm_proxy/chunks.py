"""Neutral deltas → OpenAI ``chat.completion.chunk`` SSE bytes, and the same deltas folded into one response.

Both ``stream: true`` and ``stream: false`` consume the same ``CompletionRun`` batches: the non-streaming answer
is the stream folded, so the two can never disagree. Text chunks, the bulk of a stream, are spliced from pre-encoded
bytes around one ``orjson.dumps`` of the text.

After the first byte, a failure ends the stream with one ``data: {"error": …}`` event and no ``[DONE]``. Tool-call
deltas are forwarded as they arrive; a call is whole only when the ``finish_reason`` chunk arrives, and a broken
stream never carries one, so a client cannot mistake a truncated call for a complete one.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import orjson

from llm_proxy.errors import ProxyError
from llm_proxy.providers.base import (
    Batch,
    Delta,
    Finish,
    ReasoningDelta,
    ReasoningSignature,
    RedactedReasoning,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from llm_proxy.reasoning import ReasoningFold

DONE = b"data: [DONE]\n\n"
_TEXT_END = b'},"finish_reason":null}]}\n\n'


class CompletionIdentity:
    """The fields every chunk of one completion repeats, and the bytes they encode to."""

    __slots__ = ("_prefix", "created", "id", "model")

    def __init__(self, model: str) -> None:
        self.id = f"chatcmpl-{os.urandom(16).hex()}"  # uuid4().hex without building a UUID object
        self.created = int(time.time())
        self.model = model
        head = orjson.dumps({"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": model})
        self._prefix = b"data: " + head[:-1] + b',"choices":[{"index":0,"delta":{"content":'

    def text_event(self, text: str) -> bytes:
        return self._prefix + orjson.dumps(text) + _TEXT_END

    def event(self, choices: list[dict[str, Any]], usage: dict[str, Any] | None = None) -> bytes:
        body: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }
        if usage is not None:
            body["usage"] = usage
        return b"data: " + orjson.dumps(body) + b"\n\n"


def usage_dict(usage: Usage) -> dict[str, Any]:
    body: dict[str, Any] = {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
    }
    if usage.cached_tokens or usage.cache_creation_tokens:
        body["prompt_tokens_details"] = {"cached_tokens": usage.cached_tokens}
        body["cache_creation_input_tokens"] = usage.cache_creation_tokens
    return body


def _tool_call(delta: ToolCallDelta) -> dict[str, Any]:
    call: dict[str, Any] = {"index": delta.index}
    function: dict[str, Any] = {"arguments": delta.arguments}
    if delta.id is not None:
        call["id"] = delta.id
        call["type"] = "function"
    if delta.name is not None:
        function["name"] = delta.name
    call["function"] = function
    return call


def error_event(error: ProxyError) -> bytes:
    return b"data: " + error.body() + b"\n\n"


def _event(identity: CompletionIdentity, delta: Delta, include_usage: bool) -> bytes:
    if type(delta) is TextDelta:
        return identity.text_event(delta.text)
    if type(delta) is ToolCallDelta:
        return identity.event([{"index": 0, "delta": {"tool_calls": [_tool_call(delta)]}, "finish_reason": None}])
    if type(delta) is Finish:
        return identity.event([{"index": 0, "delta": {}, "finish_reason": delta.reason}])
    if type(delta) is ReasoningDelta:
        return identity.event([{"index": 0, "delta": {"reasoning_content": delta.text}, "finish_reason": None}])
    if type(delta) is ReasoningSignature:
        block = {"type": "thinking", "thinking": "", "signature": delta.signature}
        return identity.event([{"index": 0, "delta": {"thinking_blocks": [block]}, "finish_reason": None}])
    if type(delta) is RedactedReasoning:
        block = {"type": "redacted_thinking", "data": delta.data}
        return identity.event([{"index": 0, "delta": {"thinking_blocks": [block]}, "finish_reason": None}])
    if type(delta) is Usage and include_usage:
        return identity.event([], usage=usage_dict(delta))
    return b""


async def sse_events(
    identity: CompletionIdentity, batches: AsyncIterator[Batch], *, include_usage: bool
) -> AsyncGenerator[bytes, None]:
    """The SSE body: a role chunk, content/tool-call chunks, a finish chunk, a usage chunk if asked, ``[DONE]``.
    One write per batch: a burst of upstream events leaves in one piece. The role chunk leaves with the first
    batch (already there when the stream opens): one write and one client wake-up less before the first token."""
    head = identity.event([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
    try:
        async for batch in batches:
            if len(batch) == 1:
                data = _event(identity, batch[0], include_usage)
            else:
                data = b"".join([_event(identity, delta, include_usage) for delta in batch])
            if data:
                if head:
                    data, head = head + data, b""
                yield data
    except ProxyError as exc:
        yield head + error_event(exc)
        return
    yield head + DONE


class _Fold:
    """The pieces of a ``chat.completion`` gathered from deltas."""

    def __init__(self) -> None:
        self.content: list[str] = []
        self.reasoning = ReasoningFold()
        self.calls: dict[int, dict[str, Any]] = {}
        self.arguments: dict[int, list[str]] = {}
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] | None = None

    def add(self, delta: Delta) -> None:
        if type(delta) is TextDelta:
            self.content.append(delta.text)
        elif type(delta) is ToolCallDelta:
            call = self.calls.setdefault(delta.index, {"id": None, "type": "function", "function": {"name": ""}})
            call["id"] = delta.id or call["id"]
            if delta.name:
                call["function"]["name"] += delta.name
            self.arguments.setdefault(delta.index, []).append(delta.arguments)
        elif type(delta) is Finish:
            self.finish_reason = delta.reason
        elif type(delta) is Usage:
            self.usage = usage_dict(delta)
        elif isinstance(delta, ReasoningDelta | ReasoningSignature | RedactedReasoning):
            self.reasoning.add(delta)

    def message(self) -> dict[str, Any]:
        content = "".join(self.content) if self.content or not self.calls else None
        message: dict[str, Any] = {"role": "assistant", "content": content}
        reasoning = self.reasoning.text()
        if reasoning:
            message["reasoning_content"] = reasoning
        if self.reasoning.signed:
            message["thinking_blocks"] = self.reasoning.blocks()
        if self.calls:
            for index, call in self.calls.items():
                call["function"]["arguments"] = "".join(self.arguments[index])
            message["tool_calls"] = [self.calls[i] for i in sorted(self.calls)]
        return message


async def fold(identity: CompletionIdentity, batches: AsyncIterator[Batch]) -> dict[str, Any]:
    """The non-streaming ``chat.completion``; raises ``ProxyError`` when the stream broke."""
    folded = _Fold()
    async for batch in batches:
        for delta in batch:
            folded.add(delta)
    return {
        "id": identity.id,
        "object": "chat.completion",
        "created": identity.created,
        "model": identity.model,
        "choices": [{"index": 0, "message": folded.message(), "finish_reason": folded.finish_reason, "logprobs": None}],
        "usage": folded.usage,
    }
