"""Anthropic's native Messages API, streamed, translated back into neutral deltas.

``tool_use`` blocks become tool calls numbered in order of appearance (text and thinking blocks do not take an
index), ``input_json_delta`` fragments are forwarded untouched (so arguments arrive byte for byte), thinking
blocks become reasoning deltas closed by their signature, redacted thinking stays opaque, ``stop_reason`` maps to
``finish_reason``, and usage counts cache reads and writes as prompt tokens.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import aiohttp
import orjson

from llm_proxy.anthropic_names import ERROR_KINDS, FINISH_REASONS
from llm_proxy.catalog import ModelEntry
from llm_proxy.errors import ProxyError, from_status
from llm_proxy.providers.anthropic_wire import request_body
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
from llm_proxy.providers.transport import HttpProvider, UpstreamBody, json_object, read_batches
from llm_proxy.schemas import ChatCompletionRequest
from service_kit.sse import SSEDecoder

API_VERSION = "2023-06-01"


def _error_fields(raw: bytes | dict[str, Any]) -> tuple[str, str]:
    try:
        body = orjson.loads(raw) if isinstance(raw, bytes) else raw
        error = body["error"]
        return str(error.get("type", "")), str(error.get("message", ""))
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
        return "", ""


def classify(status: int, raw: bytes, retry_after: float | None) -> ProxyError:
    message = _error_fields(raw)[1] or f"the upstream answered HTTP {status}"
    if status == 400 and ("prompt is too long" in message or "context window" in message):
        return ProxyError("context_window", message, param="messages")
    return from_status(status, message, retry_after=retry_after)


def _stream_error(data: dict[str, Any]) -> ProxyError:
    kind, message = _error_fields(data)
    mapped = ERROR_KINDS.get(kind, "server")
    if mapped == "upstream_auth":
        return ProxyError(mapped, "the upstream provider refused the proxy's credentials")
    return ProxyError(mapped, f"the upstream reported an error mid-stream: {message or kind}")


class AnthropicProvider(HttpProvider):
    """Streams from ``{base_url}/v1/messages`` with ``x-api-key``."""

    name = "anthropic"

    def __init__(self, session: aiohttp.ClientSession, base_url: str, api_key: str, inter_chunk: float) -> None:
        headers = {
            "Content-Type": "application/json",
            "Accept": "text/event-stream",
            "anthropic-version": API_VERSION,
            "x-api-key": api_key,
        }
        super().__init__(session, base_url.rstrip("/") + "/v1/messages", headers, inter_chunk, enabled=bool(api_key))

    async def stream(self, request: ChatCompletionRequest, entry: ModelEntry) -> AsyncGenerator[Batch, None]:
        response = await self._post(request_body(request, entry), classify)
        decoder = SSEDecoder()
        state = _MessageState()

        def parse(raw: bytes, batch: Batch) -> bool:
            for event in decoder.feed(raw):
                batch.extend(state.deltas(json_object(event.data, "event")))
                if state.stopped:
                    return True
            return False

        async for batch in read_batches(UpstreamBody(response, self._inter_chunk), parse):
            yield batch


class _MessageState:
    """What one streamed message has announced so far."""

    __slots__ = ("_args_seen", "_tool_index", "_usage", "stop_reason", "stop_sequence", "stopped")

    def __init__(self) -> None:
        self._tool_index: dict[int, int] = {}
        self._args_seen: set[int] = set()
        self._usage = [0, 0, 0, 0]  # input, output, cache read, cache creation
        self.stop_reason = "stop"
        self.stop_sequence: str | None = None
        self.stopped = False

    def deltas(self, data: dict[str, Any]) -> list[Delta]:
        kind = data.get("type")
        if kind == "content_block_delta":
            return self._block_delta(data)
        if kind == "content_block_start":
            return self._block_start(data)
        if kind == "content_block_stop":
            index = data.get("index", 0)
            tool = self._tool_index.get(index)
            if tool is not None and index not in self._args_seen:
                return [ToolCallDelta(tool, None, None, "{}")]  # a call without input still has an object
            return []
        if kind == "message_start":
            self._add_usage((data.get("message") or {}).get("usage") or {})
        elif kind == "message_delta":
            delta = data.get("delta") or {}
            reason = delta.get("stop_reason")
            if reason:
                self.stop_reason = FINISH_REASONS.get(reason, "stop")
            if reason == "stop_sequence" and isinstance(delta.get("stop_sequence"), str):
                self.stop_sequence = delta["stop_sequence"]
            self._add_usage(data.get("usage") or {})
        elif kind == "message_stop":
            self.stopped = True
            read, created = self._usage[2], self._usage[3]
            usage = Usage(self._usage[0] + read + created, self._usage[1], read, created)
            return [Finish(self.stop_reason, self.stop_sequence), usage]
        elif kind == "error":
            raise _stream_error(data)
        return []

    def _block_start(self, data: dict[str, Any]) -> list[Delta]:
        block = data.get("content_block") or {}
        if block.get("type") == "tool_use":
            tool = self._tool_index[data.get("index", 0)] = len(self._tool_index)
            return [ToolCallDelta(tool, str(block.get("id", "")), str(block.get("name", "")), "")]
        if block.get("type") == "text" and block.get("text"):
            return [TextDelta(block["text"])]
        if block.get("type") == "thinking" and block.get("thinking"):
            return [ReasoningDelta(block["thinking"])]
        if block.get("type") == "redacted_thinking":
            return [RedactedReasoning(str(block.get("data", "")))]
        return []

    def _block_delta(self, data: dict[str, Any]) -> list[Delta]:
        delta = data.get("delta") or {}
        kind = delta.get("type")
        if kind == "text_delta":
            text = delta.get("text")
            return [TextDelta(text)] if text else []
        if kind == "input_json_delta":
            index = data.get("index", 0)
            fragment = delta.get("partial_json") or ""
            tool = self._tool_index.get(index)
            if tool is None or not fragment:
                return []
            self._args_seen.add(index)
            return [ToolCallDelta(tool, None, None, fragment)]
        if kind == "thinking_delta" and delta.get("thinking"):
            return [ReasoningDelta(delta["thinking"])]
        if kind == "signature_delta" and delta.get("signature"):
            return [ReasoningSignature(delta["signature"])]
        return []

    def _add_usage(self, usage: dict[str, Any]) -> None:
        if "input_tokens" in usage:
            self._usage[0] = usage.get("input_tokens") or 0
        if "output_tokens" in usage:
            self._usage[1] = usage.get("output_tokens") or 0
        if "cache_read_input_tokens" in usage:
            self._usage[2] = usage.get("cache_read_input_tokens") or 0
        if "cache_creation_input_tokens" in usage:
            self._usage[3] = usage.get("cache_creation_input_tokens") or 0
