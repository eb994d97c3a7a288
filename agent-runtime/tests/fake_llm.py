"""A fake llm-proxy client speaking OpenAI streaming chunks (for the app: ``create_app(llm=FakeLLM(...))``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any


class FakeLLM:
    """Speaks OpenAI streaming chunks: one per token, then a usage chunk. ``fail_after`` raises mid-stream."""

    def __init__(
        self, tokens: Sequence[str] = ("Hello", " world"), *, fail_after: int | None = None, delay: float = 0.0
    ) -> None:
        self.tokens = list(tokens)
        self.fail_after = fail_after
        self.delay = delay
        self.calls: list[dict[str, Any]] = []

    async def stream_chat(
        self,
        *,
        model: str,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None = None,
        response_format: dict[str, Any] | None = None,
        session_id: str | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        self.calls.append({"model": model, "messages": messages, "session_id": session_id, "tools": tools})
        for index, token in enumerate(self.tokens):
            if self.fail_after is not None and index >= self.fail_after:
                raise FakeLLMError("upstream exploded")
            if self.delay:
                await asyncio.sleep(self.delay)
            yield {"choices": [{"index": 0, "delta": {"content": token}}]}
        yield {
            "choices": [],
            "usage": {"prompt_tokens": 3, "completion_tokens": len(self.tokens), "total_tokens": 3 + len(self.tokens)},
        }


class FakeLLMError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
