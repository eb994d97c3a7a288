"""The three LLM streaming wire formats the fake server speaks, as byte templates.

Every token's text is ``t<index>@<monotonic_ns> `` (the emit time, CLOCK_MONOTONIC, shared by every process on
the machine), so a client at the end of any chain can compute one-way latency from the text alone; OpenAI chunks
also carry ``x_emit_ns``. Encoding is string formatting, not JSON serialisation: the fake must stay far cheaper
per token than the chain it measures.
"""

from __future__ import annotations

import time
from typing import Protocol

import orjson


def token_text(index: int, emit_ns: int) -> str:
    """The text of token ``index`` emitted at ``emit_ns``; parse it back with ``stats.parse_token``."""
    return f"t{index}@{emit_ns} "


class WireFormat(Protocol):
    """How one API family frames a streamed completion."""

    content_type: str

    def head(self) -> bytes:
        """Bytes sent as soon as the response starts (before the first token)."""
        ...

    def token(self, index: int, emit_ns: int) -> bytes: ...

    def tail(self, count: int, include_usage: bool) -> bytes:
        """The normal end of the stream after ``count`` tokens."""
        ...

    def malformed(self) -> bytes:
        """One frame that does not parse."""
        ...

    def error(self, status: int, message: str) -> bytes:
        """The JSON error body this API family returns with ``status``."""
        ...

    def whole(self, text: str, count: int) -> bytes:
        """A non-streamed completion."""
        ...


class OpenAIChat:
    content_type = "text/event-stream"

    def __init__(self, model: str) -> None:
        self._model = model
        self._created = int(time.time())
        prefix = f'{{"id":"chatcmpl-fake","object":"chat.completion.chunk","created":{self._created},"model":"{model}",'
        self._prefix = prefix
        # (before text, between text and emit time, after): concatenation, no per-token JSON encoding
        self._first = (prefix + '"choices":[{"index":0,"delta":{"role":"assistant","content":"', '"},')
        self._next = (prefix + '"choices":[{"index":0,"delta":{"content":"', '"},')

    def head(self) -> bytes:
        return b""

    def token(self, index: int, emit_ns: int) -> bytes:
        before, middle = self._first if index == 0 else self._next
        tail = f'"finish_reason":null}}],"x_emit_ns":{emit_ns}}}\n\n'
        return f"data: {before}{token_text(index, emit_ns)}{middle}{tail}".encode()

    def tail(self, count: int, include_usage: bool) -> bytes:
        out = f'data: {self._prefix}"choices":[{{"index":0,"delta":{{}},"finish_reason":"stop"}}]}}\n\n'
        if include_usage:
            usage = f'{{"prompt_tokens":8,"completion_tokens":{count},"total_tokens":{count + 8}}}'
            out += f'data: {self._prefix}"choices":[],"usage":{usage}}}\n\n'
        return out.encode() + b"data: [DONE]\n\n"

    def malformed(self) -> bytes:
        return b'data: {"choices":[{"index":0,"delta":{"content":\n\n'

    def error(self, status: int, message: str) -> bytes:
        kind = {429: "rate_limit_exceeded", 503: "service_unavailable"}.get(status, "server_error")
        return orjson.dumps({"error": {"message": message, "type": kind, "code": kind, "param": None}})

    def whole(self, text: str, count: int) -> bytes:
        return orjson.dumps(
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": self._created,
                "model": self._model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 8, "completion_tokens": count, "total_tokens": count + 8},
            }
        )


class AnthropicMessages:
    content_type = "text/event-stream"

    def __init__(self, model: str) -> None:
        self._model = model
        self._delta = (
            'event: content_block_delta\ndata: {{"type":"content_block_delta","index":0,'
            '"delta":{{"type":"text_delta","text":"{text}"}}}}\n\n'
        )

    def head(self) -> bytes:
        message = {
            "type": "message_start",
            "message": {
                "id": "msg_fake",
                "type": "message",
                "role": "assistant",
                "model": self._model,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 8, "output_tokens": 1},
            },
        }
        block = {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
        return (
            b"event: message_start\ndata: "
            + orjson.dumps(message)
            + b"\n\nevent: content_block_start\ndata: "
            + orjson.dumps(block)
            + b'\n\nevent: ping\ndata: {"type":"ping"}\n\n'
        )

    def token(self, index: int, emit_ns: int) -> bytes:
        return self._delta.format(text=token_text(index, emit_ns)).encode()

    def tail(self, count: int, include_usage: bool) -> bytes:
        return (
            'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
            'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn",'
            f'"stop_sequence":null}},"usage":{{"output_tokens":{count}}}}}\n\n'
            'event: message_stop\ndata: {"type":"message_stop"}\n\n'
        ).encode()

    def malformed(self) -> bytes:
        return b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":\n\n'

    def error(self, status: int, message: str) -> bytes:
        kind = {429: "rate_limit_error", 503: "overloaded_error"}.get(status, "api_error")
        return orjson.dumps({"type": "error", "error": {"type": kind, "message": message}})

    def whole(self, text: str, count: int) -> bytes:
        return orjson.dumps(
            {
                "id": "msg_fake",
                "type": "message",
                "role": "assistant",
                "model": self._model,
                "content": [{"type": "text", "text": text}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": 8, "output_tokens": count},
            }
        )


class OllamaChat:
    content_type = "application/x-ndjson"

    def __init__(self, model: str) -> None:
        self._model = model
        self._line = (
            f'{{"model":"{model}","created_at":"2026-01-01T00:00:00Z","message":{{"role":"assistant","content":"'
        )

    def head(self) -> bytes:
        return b""

    def token(self, index: int, emit_ns: int) -> bytes:
        return f'{self._line}{token_text(index, emit_ns)}"}},"done":false}}\n'.encode()

    def _final(self, text: str, count: int) -> dict[str, object]:
        return {
            "model": self._model,
            "created_at": "2026-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": text},
            "done": True,
            "done_reason": "stop",
            "prompt_eval_count": 8,
            "eval_count": count,
        }

    def tail(self, count: int, include_usage: bool) -> bytes:
        return orjson.dumps(self._final("", count)) + b"\n"

    def malformed(self) -> bytes:
        return b'{"model":"x","message":{"content":\n'

    def error(self, status: int, message: str) -> bytes:
        return orjson.dumps({"error": message})

    def whole(self, text: str, count: int) -> bytes:
        return orjson.dumps(self._final(text, count))
