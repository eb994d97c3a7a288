"""Neutral deltas → an Anthropic ``message``: its content blocks and, when streaming, its events in the API's order.

One ``MessageWriter`` serves both ``stream: true`` and ``stream: false`` (the message is the stream folded), so the
two cannot disagree:

``message_start`` (usage: the estimated input), ``ping``, then per content block ``content_block_start``, its
deltas (``text_delta``, ``thinking_delta`` + ``signature_delta``, ``input_json_delta``) and ``content_block_stop``;
finally ``message_delta`` with the ``stop_reason`` (``tool_use`` when the answer ended on tool calls) and the
upstream's usage (cache reads and writes included), then ``message_stop``. A failure after the first byte ends the
stream with Anthropic's ``error`` event. Text deltas, the bulk of a stream, are spliced from pre-encoded bytes around
one ``orjson.dumps``.
"""

from __future__ import annotations

import os
from typing import Any

import orjson

from llm_proxy.anthropic_names import ERROR_TYPES, STOP_REASONS
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
from service_kit import sse

PING = sse.encode(b'{"type":"ping"}', event="ping")


def error_body(error: ProxyError) -> bytes:
    """Anthropic's error shape: ``{"type":"error","error":{"type","message"}}``."""
    kind = ERROR_TYPES.get(error.kind, "api_error")
    return orjson.dumps({"type": "error", "error": {"type": kind, "message": error.message}})


def error_event(error: ProxyError) -> bytes:
    return sse.encode(error_body(error), event="error")


def usage_object(usage: Usage) -> dict[str, Any]:
    """Anthropic usage: ``input_tokens`` are the uncached ones; cache reads and writes are counted apart."""
    return {
        "input_tokens": max(0, usage.prompt_tokens - usage.cached_tokens - usage.cache_creation_tokens),
        "cache_creation_input_tokens": usage.cache_creation_tokens,
        "cache_read_input_tokens": usage.cached_tokens,
        "output_tokens": usage.completion_tokens,
    }


def _event(kind: str, body: dict[str, Any]) -> bytes:
    return sse.encode(orjson.dumps({"type": kind, **body}), event=kind)


class _Block:
    """The content block being streamed: its kind, its place, its pieces."""

    __slots__ = ("block", "call_index", "index", "kind", "pieces", "text_head")

    def __init__(self, kind: str, block: dict[str, Any], index: int, call_index: int = -1) -> None:
        self.kind = kind
        self.block = block
        self.index = index
        self.call_index = call_index
        self.pieces: list[str] = []
        self.text_head = b""


class MessageWriter:
    """Builds one message from deltas; ``stream`` decides whether events are encoded at all."""

    def __init__(self, model: str, prompt_estimate: int, *, stream: bool) -> None:
        self.id = f"msg_{os.urandom(12).hex()}"
        self.model = model
        self.content: list[dict[str, Any]] = []
        self._stream = stream
        self._prompt_estimate = prompt_estimate
        self._open: _Block | None = None
        self._closed_calls: set[int] = set()
        self._finish = "stop"
        self._stop_sequence: str | None = None
        self._usage = Usage(prompt_estimate, 0)

    def _emit(self, kind: str, body: dict[str, Any]) -> bytes:
        return _event(kind, body) if self._stream else b""

    def _envelope(self, stop_reason: str | None, usage: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": self.content if stop_reason else [],
            "stop_reason": stop_reason,
            "stop_sequence": self._stop_sequence if stop_reason else None,
            "usage": usage,
        }

    def start(self) -> bytes:
        """``message_start`` and a ``ping``, as Anthropic begins every stream."""
        usage = {**usage_object(Usage(self._prompt_estimate, 0)), "output_tokens": 1}
        return self._emit("message_start", {"message": self._envelope(None, usage)}) + PING

    def failed(self, error: ProxyError) -> bytes:
        """A stream that broke ends with Anthropic's ``error`` event."""
        return error_event(error)

    # -- deltas --------------------------------------------------------------------------------------------------

    def feed(self, batch: Batch) -> bytes:
        out = [self._delta(delta) for delta in batch]
        return out[0] if len(out) == 1 else b"".join(out)

    def _delta(self, delta: Delta) -> bytes:
        if type(delta) is TextDelta:
            return self._text(delta.text)
        if type(delta) is ToolCallDelta:
            return self._call(delta)
        if type(delta) is ReasoningDelta:
            opened = self._ensure("thinking")
            assert self._open is not None
            self._open.pieces.append(delta.text)
            return opened + self._block_delta({"type": "thinking_delta", "thinking": delta.text})
        if type(delta) is ReasoningSignature:
            opened = self._ensure("thinking")
            assert self._open is not None
            self._open.block["signature"] = delta.signature
            signed = self._block_delta({"type": "signature_delta", "signature": delta.signature})
            return opened + signed + self._close()  # a signature ends its thinking block
        if type(delta) is RedactedReasoning:
            closed = self._close()
            body = {"type": "redacted_thinking", "data": delta.data}
            block = self._open = _Block("redacted_thinking", body, len(self.content))
            return (
                closed
                + self._emit("content_block_start", {"index": block.index, "content_block": body})
                + self._close()
            )
        if type(delta) is Finish:
            self._finish = delta.reason
            self._stop_sequence = delta.stop_sequence
        elif type(delta) is Usage:
            self._usage = delta
        return b""

    def _text(self, text: str) -> bytes:
        opened = self._ensure("text")
        block = self._open
        assert block is not None
        block.pieces.append(text)
        if not self._stream:
            return b""
        return opened + block.text_head + orjson.dumps(text) + b"}}\n\n"

    def _call(self, delta: ToolCallDelta) -> bytes:
        opened = b""
        block = self._open
        if block is None or block.kind != "tool_use" or block.call_index != delta.index:
            if delta.index in self._closed_calls:
                raise ProxyError(
                    "malformed", f"the upstream sent more of tool call {delta.index} after the next one began"
                )
            closed = self._close()
            body = {
                "type": "tool_use",
                "id": delta.id or f"toolu_{os.urandom(12).hex()}",
                "name": delta.name or "",
                "input": {},
            }
            block = self._open = _Block("tool_use", body, len(self.content), delta.index)
            opened = closed + self._emit("content_block_start", {"index": block.index, "content_block": body})
        elif delta.name:
            block.block["name"] += delta.name
        if not delta.arguments:
            return opened
        block.pieces.append(delta.arguments)
        return opened + self._block_delta({"type": "input_json_delta", "partial_json": delta.arguments})

    # -- blocks --------------------------------------------------------------------------------------------------

    def _block_delta(self, delta: dict[str, Any]) -> bytes:
        assert self._open is not None
        return self._emit("content_block_delta", {"index": self._open.index, "delta": delta})

    def _ensure(self, kind: str) -> bytes:
        """Open a block of ``kind`` unless one is open (closing the one that is)."""
        if self._open is not None and self._open.kind == kind:
            return b""
        closed = self._close()
        index = len(self.content)
        body: dict[str, Any] = {"type": "text", "text": ""} if kind == "text" else {"type": "thinking", "thinking": ""}
        block = self._open = _Block(kind, body, index)
        if kind == "text":
            head = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":'
            block.text_head = head + str(index).encode() + b',"delta":{"type":"text_delta","text":'
        return closed + self._emit("content_block_start", {"index": index, "content_block": dict(body)})

    def _close(self) -> bytes:
        block = self._open
        if block is None:
            return b""
        self._open = None
        joined = "".join(block.pieces)
        extra = b""
        if block.kind == "text":
            block.block["text"] = joined
        elif block.kind == "thinking":
            block.block["thinking"] = joined
        elif block.kind == "tool_use":
            if not joined:  # a call without arguments still has an object
                joined = "{}"
                extra = self._block_delta({"type": "input_json_delta", "partial_json": joined})
            self._closed_calls.add(block.call_index)
            if not self._stream:  # a streamed call reaches the client as its fragments
                block.block["input"] = _arguments(joined, block.block["id"])
        self.content.append(block.block)
        return extra + self._emit("content_block_stop", {"index": block.index})

    # -- the end -------------------------------------------------------------------------------------------------

    @property
    def stop_reason(self) -> str:
        if self._finish == "stop" and self._closed_calls:
            return "tool_use"
        if self._finish == "stop" and self._stop_sequence is not None:
            return "stop_sequence"
        return STOP_REASONS.get(self._finish, "end_turn")

    def finish(self) -> tuple[bytes, dict[str, Any]]:
        """The closing events and the whole message."""
        closed = self._close()
        usage = usage_object(self._usage)
        message = self._envelope(self.stop_reason, usage)
        delta = {"delta": {"stop_reason": self.stop_reason, "stop_sequence": self._stop_sequence}, "usage": usage}
        return closed + self._emit("message_delta", delta) + self._emit("message_stop", {}), message


def _arguments(raw: str, call_id: str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ProxyError("malformed", f"the arguments of tool call {call_id} are not JSON") from None
