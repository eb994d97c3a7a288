"""Provider deltas → OpenAI ``chat.completion.chunk`` SSE bytes, and the same stream folded into one response.

Both ``stream: true`` and ``stream: false`` go through ``completion_chunks``: the non-streaming answer is the
stream folded, so the two can never disagree.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson

from llm_proxy.providers.base import Delta, Finish, TextDelta, Usage
from service_kit.sse import encode

DONE = b"data: [DONE]\n\n"


class CompletionIdentity:
    """The fields every chunk of one completion repeats."""

    __slots__ = ("created", "id", "model")

    def __init__(self, model: str) -> None:
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.model = model

    def chunk(self, choices: list[dict[str, Any]], usage: dict[str, int] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }
        if usage is not None:
            body["usage"] = usage
        return body


def _usage(delta: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": delta.prompt_tokens,
        "completion_tokens": delta.completion_tokens,
        "total_tokens": delta.prompt_tokens + delta.completion_tokens,
    }


async def completion_chunks(
    identity: CompletionIdentity, deltas: AsyncIterator[Delta], *, include_usage: bool
) -> AsyncIterator[dict[str, Any]]:
    """OpenAI chunk dicts: a role chunk, content chunks, a finish chunk, then (if asked) a usage chunk."""
    yield identity.chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
    usage: Usage | None = None
    async for delta in deltas:
        if isinstance(delta, TextDelta):
            yield identity.chunk([{"index": 0, "delta": {"content": delta.text}, "finish_reason": None}])
        elif isinstance(delta, Finish):
            yield identity.chunk([{"index": 0, "delta": {}, "finish_reason": delta.reason}])
        elif isinstance(delta, Usage):
            usage = delta
    if include_usage and usage is not None:
        yield identity.chunk([], usage=_usage(usage))


async def sse_bytes(chunks: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        yield encode(orjson.dumps(chunk))
    yield DONE


async def fold(identity: CompletionIdentity, chunks: AsyncIterator[dict[str, Any]]) -> dict[str, Any]:
    """The non-streaming ``chat.completion`` built from the same chunks a stream would carry."""
    content: list[str] = []
    finish_reason = None
    usage = None
    async for chunk in chunks:
        usage = chunk.get("usage", usage)
        for choice in chunk["choices"]:
            text = choice["delta"].get("content")
            if text:
                content.append(text)
            finish_reason = choice.get("finish_reason") or finish_reason
    return {
        "id": identity.id,
        "object": "chat.completion",
        "created": identity.created,
        "model": identity.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "".join(content)},
                "finish_reason": finish_reason,
            }
        ],
        "usage": usage,
    }
