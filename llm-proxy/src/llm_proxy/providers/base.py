"""The provider contract: turn one chat request into a stream of neutral deltas.

Providers never format OpenAI chunks themselves; ``llm_proxy.chunks`` does that once for all of them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from llm_proxy.schemas import ChatCompletionRequest


@dataclass(slots=True, frozen=True)
class TextDelta:
    text: str


@dataclass(slots=True, frozen=True)
class Finish:
    reason: str


@dataclass(slots=True, frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int


Delta = TextDelta | Finish | Usage


class Provider(Protocol):
    """Streams a completion for ``request`` as deltas, ending with one ``Finish`` (and ``Usage`` when known)."""

    name: str

    def stream(self, request: ChatCompletionRequest) -> AsyncIterator[Delta]: ...
