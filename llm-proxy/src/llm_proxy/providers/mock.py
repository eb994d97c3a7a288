"""The built-in deterministic model: streams an echo of the last user message, word by word."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

from llm_proxy.providers.base import Delta, Finish, TextDelta, Usage
from llm_proxy.schemas import ChatCompletionRequest

_WORDS = re.compile(r"\s*\S+")


def _text_of(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


class MockProvider:
    """Needs no key and no network; the zero-config default."""

    name = "mock"

    def __init__(self, token_delay: float) -> None:
        self._delay = token_delay

    async def stream(self, request: ChatCompletionRequest) -> AsyncIterator[Delta]:
        last_user = next((m for m in reversed(request.messages) if m.role == "user"), None)
        text = _text_of(last_user.content) if last_user else ""
        words = _WORDS.findall(text) or ["(empty message)"]
        for i, word in enumerate(words):
            if i and self._delay:
                await asyncio.sleep(self._delay)
            yield TextDelta(word)
        prompt_tokens = sum(len(_WORDS.findall(_text_of(m.content))) for m in request.messages)
        yield Finish("stop")
        yield Usage(prompt_tokens=prompt_tokens, completion_tokens=len(words))
