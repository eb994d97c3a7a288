"""Ollama's native ``/api/chat`` (NDJSON), with tools. ``options.num_ctx`` is always set from the model table:
Ollama's own default window is small and it truncates a longer prompt silently. Reasoning goes back as an assistant
message's ``thinking``; a request's thinking becomes ``think`` on a model marked ``reasoning``.

Ollama sends each tool call whole, with its arguments as an object; they are re-encoded once with orjson (key
order kept) and given an id, since Ollama does not always send one.
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
    Delta,
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
from llm_proxy.schemas import ChatCompletionRequest, ChatMessage


def classify(status: int, raw: bytes, retry_after: float | None) -> ProxyError:
    try:
        message = str(orjson.loads(raw)["error"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        message = f"the upstream answered HTTP {status}"
    return from_status(status, message, retry_after=retry_after)


def _images(message: ChatMessage) -> list[str]:
    if not isinstance(message.content, list):
        return []
    images = []
    for part in message.content:
        if part.type == "image_url" and part.image_url:
            header, _, data = part.image_url.url.partition(",")
            if not header.startswith("data:"):
                raise ProxyError("bad_request", "Ollama accepts images only as data: URLs", param="messages")
            images.append(data)
    return images


def _message(message: ChatMessage, call_names: dict[str, str]) -> dict[str, Any]:
    role = "system" if message.role == "developer" else message.role
    out: dict[str, Any] = {"role": role, "content": message.text()}
    if message.role == "assistant":
        thinking = message.reasoning_text()
        if thinking:
            out["thinking"] = thinking
    images = _images(message)
    if images:
        out["images"] = images
    if message.tool_calls:
        calls = []
        for call in message.tool_calls:
            call_names[call.id] = call.function.name
            try:
                arguments = orjson.loads(call.function.arguments or "{}")
            except orjson.JSONDecodeError:
                raise ProxyError(
                    "bad_request", f"tool call {call.id}: arguments are not JSON", param="messages"
                ) from None
            calls.append({"function": {"name": call.function.name, "arguments": arguments}})
        out["tool_calls"] = calls
    if message.role == "tool" and message.tool_call_id in call_names:
        out["tool_name"] = call_names[message.tool_call_id]
    return out


def request_body(request: ChatCompletionRequest, entry: ModelEntry) -> bytes:
    call_names: dict[str, str] = {}
    options: dict[str, Any] = {"num_ctx": entry.context_window}
    for field, value in (("temperature", request.temperature), ("top_p", request.top_p), ("seed", request.seed)):
        if value is not None:
            options[field] = value
    if request.output_limit:
        options["num_predict"] = request.output_limit
    if request.stop_list:
        options["stop"] = request.stop_list
    body: dict[str, Any] = {
        "model": entry.upstream_model,
        "messages": [_message(m, call_names) for m in request.messages],
        "stream": True,
        "options": options,
    }
    if request.tools:
        body["tools"] = [t.model_dump(exclude_none=True) for t in request.tools]
    if entry.reasoning and (request.thinking is not None or request.reasoning_effort):
        body["think"] = requested_effort(request) is not None
    fmt = request.response_format or {}
    if fmt.get("type") == "json_object":
        body["format"] = "json"
    elif fmt.get("type") == "json_schema":
        body["format"] = (fmt.get("json_schema") or {}).get("schema", "json")
    return orjson.dumps(body)


class OllamaProvider(HttpProvider):
    """Streams from ``{base_url}/api/chat``."""

    name = "ollama"

    def __init__(self, session: aiohttp.ClientSession, base_url: str, inter_chunk: float) -> None:
        headers = {"Content-Type": "application/json", "Accept": "application/x-ndjson"}
        super().__init__(session, base_url.rstrip("/") + "/api/chat", headers, inter_chunk, enabled=bool(base_url))
        self._embed_url = base_url.rstrip("/") + "/api/embed"

    async def embed(self, inputs: EmbeddingInput, entry: ModelEntry, dimensions: int | None) -> Embeddings:
        """``POST {base_url}/api/embed`` (texts only; ``options.num_ctx`` from the table, as for chat)."""
        if any(not isinstance(text, str) for text in inputs):
            raise ProxyError("bad_request", "Ollama embeds texts, not token arrays", param="input")
        body: dict[str, Any] = {
            "model": entry.upstream_model,
            "input": inputs,
            "options": {"num_ctx": entry.context_window},
        }
        if dimensions is not None:
            body["dimensions"] = dimensions
        answer = await self._post_json(self._embed_url, orjson.dumps(body), classify)
        vectors = answer.get("embeddings")
        if not isinstance(vectors, list) or len(vectors) != len(inputs):
            raise ProxyError("malformed", "the upstream answered JSON that is not one embedding per input")
        return Embeddings([list(v) for v in vectors], int(answer.get("prompt_eval_count") or 0))

    async def stream(self, request: ChatCompletionRequest, entry: ModelEntry) -> AsyncGenerator[Batch, None]:
        response = await self._post(request_body(request, entry), classify)
        buffer = b""
        tools = [0]
        over = False

        def parse(raw: bytes, batch: Batch) -> bool:
            nonlocal buffer, over
            *lines, buffer = (buffer + raw).split(b"\n")
            for line in lines:
                batch.extend(_line_deltas(line, tools))
                if batch and type(batch[-1]) is Usage:  # the ``done`` line ends the answer
                    over = True
                    break
            return over

        async for batch in read_batches(UpstreamBody(response, self._inter_chunk), parse):
            yield batch
        tail = [] if over else _line_deltas(buffer, tools)
        if tail:
            yield tail


def _line_deltas(line: bytes, tools: list[int]) -> list[Delta]:
    if not line.strip():
        return []
    data = json_object(line, "line")
    if "error" in data:
        raise ProxyError("server", f"the upstream reported an error mid-stream: {data['error']}")
    out: list[Delta] = []
    message = data.get("message") or {}
    if message.get("thinking"):
        out.append(ReasoningDelta(message["thinking"]))
    if message.get("content"):
        out.append(TextDelta(message["content"]))
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        arguments = function.get("arguments")
        encoded = arguments if isinstance(arguments, str) else orjson.dumps(arguments or {}).decode()
        call_id = call.get("id") or f"call_{uuid.uuid4().hex[:24]}"
        out.append(ToolCallDelta(tools[0], call_id, str(function.get("name", "")), encoded))
        tools[0] += 1
    if data.get("done"):
        reason = "tool_calls" if tools[0] else ("length" if data.get("done_reason") == "length" else "stop")
        out.append(Finish(reason))
        out.append(Usage(data.get("prompt_eval_count") or 0, data.get("eval_count") or 0))
    return out
