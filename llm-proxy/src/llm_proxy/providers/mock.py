"""The built-in deterministic model: streams an echo of the last user message word by word, unless directives in
that message script something else (tool calls, texts, routing answers, delays, faults; see mock_script).

Faults are raised exactly as a remote provider raises them (the same ``ProxyError`` kinds, a silent stall, a
stream that ends without a finish), so retries, fallbacks and timeouts run through the same code path.
The deployment ``mock-stable`` ignores faults, so a chain can fall back from ``mock`` to it.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
from collections.abc import AsyncGenerator

import orjson

from llm_proxy.catalog import ModelEntry
from llm_proxy.errors import ProxyError, from_status
from llm_proxy.providers.base import (
    Batch,
    Delta,
    EmbeddingInput,
    Embeddings,
    Finish,
    ReasoningDelta,
    ReasoningSignature,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from llm_proxy.providers.mock_script import (
    RoundPlan,
    conversation_hash,
    plan,
    route_answer,
    split_awkwardly,
    thinking_signature,
)
from llm_proxy.schemas import ChatCompletionRequest
from llm_proxy.tokens import estimate_prompt_tokens, estimate_text_tokens

_WORDS = re.compile(r"\s*\S+")
_STABLE = "mock-stable"


MOCK_EMBEDDING_DIMENSIONS = 256


def _unit_vector(seed: bytes, size: int) -> list[float]:
    raw = b"".join(hashlib.sha256(seed + block.to_bytes(4, "big")).digest() for block in range(-(-size * 2 // 32)))
    values = [int.from_bytes(raw[2 * i : 2 * i + 2], "big") / 32767.5 - 1.0 for i in range(size)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


def _words(text: str) -> list[str]:
    return _WORDS.findall(text)


class MockProvider:
    """Needs no key and no network; the zero-config default."""

    name = "mock"
    configured = True

    def __init__(self, token_delay: float) -> None:
        self._delay = token_delay

    async def aclose(self) -> None:
        return None

    async def embed(self, inputs: EmbeddingInput, entry: ModelEntry, dimensions: int | None) -> Embeddings:
        """Deterministic unit vectors (``dimensions``, default 256) derived from each input's SHA-256: the same
        input always gets the same vector, different inputs (almost surely) different ones."""
        size = dimensions or MOCK_EMBEDDING_DIMENSIONS
        vectors = [_unit_vector(orjson.dumps(item), size) for item in inputs]
        tokens = sum(len(item) if isinstance(item, list) else estimate_text_tokens(len(item)) for item in inputs)
        return Embeddings(vectors, tokens)

    async def stream(self, request: ChatCompletionRequest, entry: ModelEntry) -> AsyncGenerator[Batch, None]:
        script = plan(request)
        fault = None if entry.upstream_model == _STABLE else script.fault
        if script.ttft_ms:
            await asyncio.sleep(script.ttft_ms / 1000)
        if fault in ("429", "500", "503"):
            raise from_status(int(fault), f"mock fault {fault}", retry_after=1.0 if fault == "429" else None)
        if fault == "stall":
            await asyncio.Event().wait()
        delay = self._delay if script.delay_ms is None else script.delay_ms / 1000
        pieces = self._pieces(request, script)
        cut = max(1, sum(1 for p in pieces if not isinstance(p, Finish)) // 2)
        for index, piece in enumerate(pieces):
            if index == cut and fault in ("midstream", "truncate", "malformed"):
                if fault == "truncate":
                    return
                if fault == "malformed":
                    raise ProxyError("malformed", "the upstream sent a chunk that is not JSON")
                raise ProxyError("server", "the upstream reported an error mid-stream: mock fault midstream")
            if index and delay and not (isinstance(piece, ToolCallDelta) and piece.id is None):
                await asyncio.sleep(delay)
            yield [piece]
        prompt, completion = script.usage or (estimate_prompt_tokens(request), len(pieces) - 1)
        yield [Usage(prompt, completion)]

    def _pieces(self, request: ChatCompletionRequest, script: RoundPlan) -> list[Delta]:
        thinking: list[Delta] = []
        if script.thinking:
            thought = " ".join(script.thinking)
            thinking = [*(ReasoningDelta(w) for w in _words(thought)), ReasoningSignature(thinking_signature(thought))]
        return thinking + self._answer(request, script)

    def _answer(self, request: ChatCompletionRequest, script: RoundPlan) -> list[Delta]:
        fmt = (request.response_format or {}).get("type")
        if script.route is not None and fmt == "json_object":
            answer = route_answer(script.route)
            third = max(1, len(answer) // 3)
            route: list[Delta] = [TextDelta(answer[i : i + third]) for i in range(0, len(answer), third)]
            return [*route, Finish("stop")]
        text = " ".join(script.texts) if script.texts else None
        if script.tools:
            pieces: list[Delta] = [TextDelta(w) for w in _words(text or "")]
            digest = conversation_hash(request)
            for index, (name, arguments) in enumerate(script.tools):
                call_id = f"call_{script.round}_{index}_{digest}"
                pieces.append(ToolCallDelta(index, call_id, name, ""))
                pieces.extend(ToolCallDelta(index, None, None, part) for part in split_awkwardly(arguments))
            return [*pieces, Finish("tool_calls")]
        if text is None:
            text = (script.echo or "(empty message)") if script.round == 1 else "Done."
        return [*(TextDelta(w) for w in _words(text) or ["(empty message)"]), Finish("stop")]
