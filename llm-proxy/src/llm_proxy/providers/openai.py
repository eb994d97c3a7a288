"""OpenAI and any OpenAI-compatible server (OpenRouter, vLLM, LM Studio, a LiteLLM proxy, Ollama's ``/v1``).

The request is passed through nearly as received (extra fields included) with the upstream model name, always
streamed with usage; each upstream SSE event is parsed once with orjson and reduced to neutral deltas.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from typing import Any

import aiohttp
import orjson

from llm_proxy.catalog import ModelEntry
from llm_proxy.errors import ProxyError, from_status
from llm_proxy.providers.base import (
    Batch,
    EmbeddingInput,
    Embeddings,
    Finish,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from llm_proxy.providers.transport import HttpProvider, UpstreamBody, json_object, read_batches
from llm_proxy.reasoning import requested_effort
from llm_proxy.schemas import ChatCompletionRequest
from service_kit.sse import SSEDecoder

_CONTEXT_MARKERS = ("context_length_exceeded", "maximum context length", "context window", "too many tokens")


def classify(status: int, raw: bytes, retry_after: float | None) -> ProxyError:
    """An OpenAI error envelope (or anything else) → ``ProxyError``."""
    message, code = f"the upstream answered HTTP {status}", None
    try:
        error = orjson.loads(raw)["error"]
        message = str(error.get("message") or message) if isinstance(error, dict) else str(error)
        code = error.get("code") if isinstance(error, dict) else None
    except (orjson.JSONDecodeError, KeyError, TypeError):
        pass
    if status == 400 and (code == "context_length_exceeded" or any(m in message.lower() for m in _CONTEXT_MARKERS)):
        return ProxyError("context_window", message, param="messages")
    return from_status(status, message, retry_after=retry_after)


_OVERRIDDEN = {"model", "stream", "stream_options"}


def request_body(request: ChatCompletionRequest, entry: ModelEntry) -> bytes:
    """The request as received (extra fields too, ``None`` left out, the neutral extensions too), for the upstream
    model, streamed with usage; a thinking budget becomes ``reasoning_effort`` on a model that reasons.

    pydantic writes the JSON itself (a third cheaper than ``model_dump`` + ``orjson``); the fields the proxy sets
    are spliced onto its end (``messages`` is required, so the object is never empty)."""
    head = request.model_dump_json(exclude_none=True, exclude=_OVERRIDDEN).encode()
    proxy_set: dict[str, Any] = {
        "model": entry.upstream_model,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if request.thinking is not None and entry.reasoning and not request.reasoning_effort:
        effort = requested_effort(request)
        if effort:
            proxy_set["reasoning_effort"] = effort
    tail = orjson.dumps(proxy_set)
    return head[:-1] + b"," + tail[1:]


class OpenAIProvider(HttpProvider):
    """Streams chat completions from ``base_url`` (``…/v1``) with ``Authorization: Bearer <api_key>``."""

    name = "openai"

    def __init__(
        self, session: aiohttp.ClientSession, base_url: str, api_key: str, inter_chunk: float, *, enabled: bool
    ) -> None:
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        super().__init__(session, base_url.rstrip("/") + "/chat/completions", headers, inter_chunk, enabled=enabled)
        self._embeddings_url = base_url.rstrip("/") + "/embeddings"

    async def embed(self, inputs: EmbeddingInput, entry: ModelEntry, dimensions: int | None) -> Embeddings:
        """``POST {base_url}/embeddings`` (floats asked for; the door encodes base64 itself when asked)."""
        body: dict[str, Any] = {"model": entry.upstream_model, "input": inputs, "encoding_format": "float"}
        if dimensions is not None:
            body["dimensions"] = dimensions
        answer = await self._post_json(self._embeddings_url, orjson.dumps(body), classify)
        try:
            rows = sorted(answer["data"], key=lambda row: row.get("index", 0))
            vectors = [list(row["embedding"]) for row in rows]
        except (KeyError, TypeError):
            raise ProxyError("malformed", "the upstream answered JSON that is not an embeddings list") from None
        if len(vectors) != len(inputs):
            raise ProxyError("malformed", f"the upstream sent {len(vectors)} vectors for {len(inputs)} inputs")
        return Embeddings(vectors, int((answer.get("usage") or {}).get("prompt_tokens") or 0))

    async def stream(self, request: ChatCompletionRequest, entry: ModelEntry) -> AsyncGenerator[Batch, None]:
        response = await self._post(request_body(request, entry), classify)
        if response.content_type == "application/json":
            # Some compatible servers ignore ``stream: true`` and answer one completion.
            yield await _whole_completion(response)
            return
        decoder = SSEDecoder()
        reader = _ChunkReader()

        def parse(raw: bytes, batch: Batch) -> bool:
            for event in decoder.feed(raw):
                if event.data == b"[DONE]":
                    return True
                reader.add(event.data, batch)
            return False

        async for batch in read_batches(UpstreamBody(response, self._inter_chunk), parse):
            yield batch
        # EOF without [DONE]: the caller decides from whether a Finish came (a final event without its blank
        # line, or no [DONE] after a finish_reason, is still a proper end).


class _ChunkReader:
    """State of one stream: tool calls already announced (to fill in ids a server left out)."""

    __slots__ = ("_announced",)

    def __init__(self) -> None:
        self._announced: set[int] = set()

    def add(self, data: bytes, out: Batch) -> None:
        """Parse one event and append its deltas to ``out``."""
        chunk = json_object(data, "chunk")
        if "error" in chunk:
            raise _stream_error(chunk["error"])
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            text = delta.get("content")
            if text:
                out.append(TextDelta(text))
            thinking = delta.get("reasoning_content") or delta.get("reasoning")
            if thinking and isinstance(thinking, str):
                out.append(ReasoningDelta(thinking))
            for call in delta.get("tool_calls") or ():
                out.append(self._tool_delta(call))
            reason = choice.get("finish_reason")
            if reason:
                # Some compatible servers (older vLLM, LM Studio) say "stop" after tool calls.
                out.append(Finish("tool_calls" if reason == "stop" and self._announced else reason))
        usage = chunk.get("usage")
        if usage:
            out.append(_usage(usage))

    def _tool_delta(self, call: dict[str, Any]) -> ToolCallDelta:
        index = call.get("index", 0)
        function = call.get("function") or {}
        call_id = call.get("id")
        if index not in self._announced:
            self._announced.add(index)
            call_id = call_id or f"call_{uuid.uuid4().hex[:24]}"
        return ToolCallDelta(index, call_id, function.get("name"), function.get("arguments") or "")


async def _whole_completion(response: aiohttp.ClientResponse) -> Batch:
    try:
        body = orjson.loads(await response.read())
        message = body["choices"][0]["message"]
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
        raise ProxyError("malformed", "the upstream answered JSON that is not a chat completion") from None
    except (aiohttp.ClientError, OSError) as exc:
        raise ProxyError("connection", f"the upstream connection broke ({type(exc).__name__})") from None
    finally:
        response.release()
    out: Batch = []
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if reasoning and isinstance(reasoning, str):
        out.append(ReasoningDelta(reasoning))
    if message.get("content"):
        out.append(TextDelta(message["content"]))
    for index, call in enumerate(message.get("tool_calls") or ()):
        function = call.get("function") or {}
        call_id = call.get("id") or f"call_{uuid.uuid4().hex[:24]}"
        out.append(ToolCallDelta(index, call_id, function.get("name"), function.get("arguments") or ""))
    out.append(Finish(body["choices"][0].get("finish_reason") or "stop"))
    usage = body.get("usage")
    if usage:
        out.append(_usage(usage))
    return out


def _usage(usage: dict[str, Any]) -> Usage:
    details = usage.get("prompt_tokens_details") or {}
    return Usage(
        usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0, details.get("cached_tokens") or 0
    )


def _stream_error(error: Any) -> ProxyError:
    message = error.get("message") if isinstance(error, dict) else str(error)
    code = error.get("code") if isinstance(error, dict) else None
    if code in (429, "429", "rate_limit_exceeded"):
        return ProxyError("rate_limit", str(message))
    return ProxyError("server", f"the upstream reported an error mid-stream: {message}")
