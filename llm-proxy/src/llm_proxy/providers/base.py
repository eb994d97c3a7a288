"""The provider contract: turn one chat request into a stream of neutral deltas, in batches.

A batch is what one upstream read carried (under load a read holds many events); everything downstream handles a
batch at once, so a burst costs one downstream write instead of one per token.

Providers never format OpenAI chunks themselves; ``llm_proxy.chunks`` does that once for all of them. A provider
raises ``ProxyError`` for every failure, and ends its stream without a ``Finish`` when the upstream stream was cut
(the caller turns that into a truncation error), so every provider fails the same way.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Protocol

from llm_proxy.catalog import ModelEntry
from llm_proxy.schemas import ChatCompletionRequest


@dataclass(slots=True, frozen=True)
class TextDelta:
    text: str


@dataclass(slots=True, frozen=True)
class ReasoningDelta:
    """Thinking text of a reasoning model (OpenAI-compatible ``reasoning_content``/``reasoning``, Anthropic
    ``thinking``, Ollama ``thinking``). Consecutive pieces form one reasoning block, which a ``ReasoningSignature``
    closes when the provider signs its blocks."""

    text: str


@dataclass(slots=True, frozen=True)
class ReasoningSignature:
    """Closes the reasoning block in progress with the provider's opaque proof of it (Anthropic's thinking
    ``signature``); a client sends it back, byte for byte, with that block on the next turn."""

    signature: str


@dataclass(slots=True, frozen=True)
class RedactedReasoning:
    """A whole reasoning block the provider encrypted (Anthropic ``redacted_thinking``): opaque ``data`` that goes
    back upstream as is on the next turn."""

    data: str


@dataclass(slots=True, frozen=True)
class ToolCallDelta:
    """A piece of tool call ``index``: ``id`` and ``name`` come with its first piece, ``arguments`` is a fragment."""

    index: int
    id: str | None
    name: str | None
    arguments: str


@dataclass(slots=True, frozen=True)
class Finish:
    """The upstream finished: ``reason`` in chat terms (stop, length, tool_calls, content_filter); ``stop_sequence``
    is the stop sequence that ended it, when the upstream says which (Anthropic does)."""

    reason: str
    stop_sequence: str | None = None


@dataclass(slots=True, frozen=True)
class Usage:
    """``prompt_tokens`` counts every prompt token, cached ones included: ``cached_tokens`` were read from the
    provider's prompt cache, ``cache_creation_tokens`` were written to it."""

    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0
    cache_creation_tokens: int = 0


@dataclass(slots=True, frozen=True)
class Embeddings:
    """One vector per input, in input order, and the prompt tokens the upstream counted."""

    vectors: list[list[float]]
    prompt_tokens: int


EmbeddingInput = list[str] | list[list[int]]  # texts, or token arrays (OpenAI-compatible upstreams only)


Delta = TextDelta | ReasoningDelta | ReasoningSignature | RedactedReasoning | ToolCallDelta | Finish | Usage
Batch = list[Delta]


class Provider(Protocol):
    """Streams a completion of ``request`` on the deployment ``entry``.

    Contract: yields non-empty batches of meaningful deltas (no empty role-only pieces), one ``Finish`` when the
    upstream finished, ``Usage`` when known; deltas parsed before a failure are yielded before the ``ProxyError``
    is raised; honours cancellation (``aclose``) at any point.
    """

    name: str

    @property
    def configured(self) -> bool:
        """Whether it has what it needs (a key, a base URL) to be called."""
        ...

    def stream(self, request: ChatCompletionRequest, entry: ModelEntry) -> AsyncGenerator[Batch, None]: ...

    async def aclose(self) -> None:
        """Release the long-lived HTTP session."""
        ...


class Embedder(Protocol):
    """A provider that also serves ``/v1/embeddings`` (Anthropic has no embeddings API)."""

    async def embed(self, inputs: EmbeddingInput, entry: ModelEntry, dimensions: int | None) -> Embeddings:
        """The vectors of ``inputs``; raises ``ProxyError`` like ``stream``."""
        ...
