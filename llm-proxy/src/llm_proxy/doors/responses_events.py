"""Neutral deltas → a Responses API ``response``: its output items and, when streaming, its events in the API's order.

One ``ResponseWriter`` serves both ``stream: true`` and ``stream: false`` (the answer is the stream folded), so the
two cannot disagree. Events carry consecutive ``sequence_number``s from 0:

``response.created``, ``response.in_progress``, then per output item ``response.output_item.added``, its content
(``response.content_part.added``, ``response.output_text.delta``…, ``response.output_text.done``,
``response.content_part.done`` for a message; ``response.reasoning_text.*`` for reasoning;
``response.function_call_arguments.delta``…/``.done`` for a function call), ``response.output_item.done``; finally
``response.completed`` (or ``response.incomplete`` when the output limit cut it) with usage. A failure after
``response.created`` ends the stream with ``response.failed``; before it (once a heartbeat sent the 200), with an
``error`` event. Text deltas, the bulk of a stream, are spliced from pre-encoded bytes around one ``orjson.dumps``.
"""

from __future__ import annotations

import os
import time
from typing import Any

import orjson

from llm_proxy.doors.responses_items import custom_tool_input, seal
from llm_proxy.errors import ProxyError
from llm_proxy.providers.base import (
    Batch,
    Finish,
    ReasoningDelta,
    ReasoningSignature,
    RedactedReasoning,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from llm_proxy.reasoning import ReasoningFold
from llm_proxy.schemas import ChatMessage, FunctionCall, ReasoningBlock, ToolCall
from service_kit import sse

_TEXT_END = b',"logprobs":[]}\n\n'
_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def new_id(prefix: str) -> str:
    return f"{prefix}_{os.urandom(16).hex()}"


def usage_object(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {
            "cached_tokens": usage.cached_tokens,
            "cache_write_tokens": usage.cache_creation_tokens,
        },
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
    }


def error_event(error: ProxyError, sequence_number: int = 0) -> bytes:
    """The ``error`` event: a failure before the response was created (its 200 already out)."""
    body = {
        "type": "error",
        "sequence_number": sequence_number,
        "code": error.code,
        "message": error.message,
        "param": error.param,
    }
    return sse.encode(orjson.dumps(body), event="error")


class _Item:
    """The output item being streamed."""

    __slots__ = ("call_index", "call_name", "item", "kind", "output_index", "text", "text_head", "text_tail")

    def __init__(self, kind: str, item: dict[str, Any], output_index: int, call_index: int = -1) -> None:
        self.kind = kind
        self.item = item
        self.output_index = output_index
        self.call_index = call_index
        self.call_name = ""  # a tool call's name upstream (``<namespace>__<name>`` for a namespace's tool)
        self.text: list[str] = []
        self.text_head = b""
        self.text_tail = b""


class ResponseWriter:
    """Builds one response from deltas; ``stream`` decides whether events are encoded at all."""

    def __init__(
        self,
        envelope: dict[str, Any],
        *,
        stream: bool,
        custom_tools: frozenset[str] = frozenset(),
        namespaced_tools: dict[str, tuple[str, str]] | None = None,
    ) -> None:
        self.envelope = envelope
        self._custom = custom_tools
        self._namespaced = namespaced_tools or {}
        self.output: list[dict[str, Any]] = []
        self._stream = stream
        self._seq = 0
        self._open: _Item | None = None
        self._closed_calls: set[int] = set()
        self._finish = "stop"
        self._usage: Usage | None = None
        self._assistant = ChatMessage(role="assistant", content=None)
        self._texts: list[str] = []
        self._reasoning = ReasoningFold()

    # -- encoding ------------------------------------------------------------------------------------------------

    def _event(self, kind: str, fields: dict[str, Any]) -> bytes:
        sequence_number = self._seq
        self._seq += 1
        if not self._stream:
            return b""
        return sse.encode(orjson.dumps({"type": kind, "sequence_number": sequence_number, **fields}), event=kind)

    def _snapshot(self, status: str, **extra: Any) -> dict[str, Any]:
        return {**self.envelope, "status": status, "output": list(self.output), **extra}

    def start(self) -> bytes:
        snapshot = self._snapshot("in_progress")
        return self._event("response.created", {"response": snapshot}) + self._event(
            "response.in_progress", {"response": snapshot}
        )

    # -- deltas --------------------------------------------------------------------------------------------------

    def feed(self, batch: Batch) -> bytes:
        if len(batch) == 1:
            return self._delta(batch[0])
        return b"".join([self._delta(delta) for delta in batch])

    def _delta(self, delta: Any) -> bytes:
        kind = type(delta)
        if kind is TextDelta:
            return self._text(delta.text)
        if kind is ToolCallDelta:
            return self._call(delta)
        if kind is ReasoningDelta:
            self._reasoning.add(delta)
            return self._reasoning_text(delta.text)
        if kind is ReasoningSignature or kind is RedactedReasoning:
            self._reasoning.add(delta)
            return self._sealed(delta)
        if kind is Finish:
            self._finish = delta.reason
        elif kind is Usage:
            self._usage = delta
        return b""

    def _item(self, kind: str) -> tuple[bytes, _Item]:
        """The open item if it is of ``kind``, else a new one (the events that closed and opened items)."""
        item = self._open
        if item is not None and item.kind == kind:
            return b"", item
        events = self._switch(kind)
        assert self._open is not None
        return events, self._open

    def _text(self, text: str) -> bytes:
        """The bulk of a stream: one ``response.output_text.delta`` spliced from the item's pre-encoded bytes."""
        item = self._open
        opened = b""
        if item is None or item.kind != "message":
            opened, item = self._item("message")
        item.text.append(text)
        sequence_number = self._seq
        self._seq = sequence_number + 1
        if not self._stream:
            return b""
        return b"".join(
            (opened, item.text_head, b"%d" % sequence_number, item.text_tail, orjson.dumps(text), _TEXT_END)
        )

    def _reasoning_text(self, text: str) -> bytes:
        opened, item = self._item("reasoning")
        item.text.append(text)
        return opened + self._event(
            "response.reasoning_text.delta",
            {"item_id": item.item["id"], "output_index": item.output_index, "content_index": 0, "delta": text},
        )

    def _sealed(self, delta: ReasoningSignature | RedactedReasoning) -> bytes:
        """A signature closes the reasoning item in progress (an empty one when none is); a redacted block is an item
        of its own. Either way the block is sealed into the item's ``encrypted_content``, which a client sends back."""
        if type(delta) is RedactedReasoning:
            events = self._switch("reasoning")
            assert self._open is not None
            item = self._open
        else:
            events, item = self._item("reasoning")
        if isinstance(delta, ReasoningSignature):
            block = {"type": "thinking", "thinking": "".join(item.text), "signature": delta.signature}
        else:
            block = {"type": "redacted_thinking", "data": delta.data}
        item.item["encrypted_content"] = seal(block)
        return events + self._close()

    def _call(self, delta: ToolCallDelta) -> bytes:
        opened = b""
        item = self._open
        if item is None or item.call_index != delta.index:
            if delta.index in self._closed_calls:
                raise ProxyError(
                    "malformed", f"the upstream sent more of tool call {delta.index} after the next one began"
                )
            opened = self._switch("function_call", delta)
            item = self._open
            assert item is not None
        elif delta.name:
            self._name(item, item.call_name + delta.name)
        if not delta.arguments:
            return opened
        item.text.append(delta.arguments)
        if item.kind == "custom_tool_call":
            return opened  # its input is inside the JSON arguments: sent whole when the call is done
        return opened + self._event(
            "response.function_call_arguments.delta",
            {"item_id": item.item["id"], "output_index": item.output_index, "delta": delta.arguments},
        )

    # -- items ---------------------------------------------------------------------------------------------------

    def _name(self, item: _Item, call_name: str) -> None:
        """Name a call item; a namespace's tool gets its own name and its ``namespace``."""
        item.call_name = call_name
        namespace, name = self._namespaced.get(call_name, (None, call_name))
        item.item["name"] = name
        if namespace:
            item.item["namespace"] = namespace

    def _switch(self, kind: str, call: ToolCallDelta | None = None) -> bytes:
        """Close the open item and open one of ``kind``."""
        closed = self._close()
        output_index = len(self.output)
        item: dict[str, Any]
        part: dict[str, Any] | None = None
        if kind == "message":
            item = {"id": new_id("msg"), "type": "message", "status": "in_progress", "role": "assistant", "content": []}
            part = {"type": "output_text", "text": "", "annotations": []}
        elif kind == "reasoning":
            item = {"id": new_id("rs"), "type": "reasoning", "summary": []}
            part = {"type": "reasoning_text", "text": ""}
        else:
            assert call is not None
            call_id = call.id or new_id("call")
            if call.name in self._custom:
                kind = "custom_tool_call"
                item = {"id": new_id("ctc"), "type": kind, "status": "in_progress", "input": ""}
            else:
                item = {"id": new_id("fc"), "type": "function_call", "status": "in_progress", "arguments": ""}
            item["call_id"] = call_id
        opened = _Item(kind, item, output_index, call.index if call is not None else -1)
        if call is not None:
            self._name(opened, call.name or "")
        self._open = opened
        events = closed + self._event("response.output_item.added", {"output_index": output_index, "item": dict(item)})
        if part is not None:
            where = {"item_id": item["id"], "output_index": output_index, "content_index": 0}
            events += self._event("response.content_part.added", {**where, "part": part})
        if kind == "message":
            head = orjson.dumps({"type": "response.output_text.delta"})[:-1] + b',"sequence_number":'
            tail = orjson.dumps({"item_id": item["id"], "output_index": output_index, "content_index": 0})
            opened.text_head = b"event: response.output_text.delta\ndata: " + head
            opened.text_tail = b"," + tail[1:-1] + b',"delta":'
        return events

    def _close(self, status: str = "completed") -> bytes:
        item = self._open
        if item is None:
            return b""
        self._open = None
        text = "".join(item.text)
        body = item.item
        where = {"item_id": body["id"], "output_index": item.output_index}
        if item.kind == "message":
            part = {"type": "output_text", "text": text, "annotations": []}
            events = self._event(
                "response.output_text.done", {**where, "content_index": 0, "text": text, "logprobs": []}
            )
            events += self._event("response.content_part.done", {**where, "content_index": 0, "part": part})
            body.update(status=status, content=[part])
            self._texts.append(text)
        elif item.kind == "reasoning":
            part = {"type": "reasoning_text", "text": text}
            events = self._event("response.reasoning_text.done", {**where, "content_index": 0, "text": text})
            events += self._event("response.content_part.done", {**where, "content_index": 0, "part": part})
            body["content"] = [part]
        else:
            if item.kind == "custom_tool_call":
                custom_input = custom_tool_input(text)
                body.update(status=status, input=custom_input)
                events = self._event("response.custom_tool_call_input.delta", {**where, "delta": custom_input})
                events += self._event("response.custom_tool_call_input.done", {**where, "input": custom_input})
            else:
                body.update(status=status, arguments=text)
                events = self._event("response.function_call_arguments.done", {**where, "arguments": text})
            self._closed_calls.add(item.call_index)
            call = ToolCall(id=body["call_id"], function=FunctionCall(name=item.call_name, arguments=text))
            self._assistant.tool_calls = [*(self._assistant.tool_calls or ()), call]
        self.output.append(body)
        return events + self._event("response.output_item.done", {"output_index": item.output_index, "item": body})

    # -- the end -------------------------------------------------------------------------------------------------

    def finish(self) -> tuple[bytes, dict[str, Any]]:
        """The closing events and the final response object (``completed``, or ``incomplete`` when cut)."""
        incomplete = _INCOMPLETE.get(self._finish)
        events = self._close("incomplete" if incomplete else "completed")
        usage = usage_object(self._usage or Usage(0, 0))
        if incomplete:
            response = self._snapshot("incomplete", incomplete_details={"reason": incomplete}, usage=usage)
            return events + self._event("response.incomplete", {"response": response}), response
        response = self._snapshot("completed", usage=usage)
        return events + self._event("response.completed", {"response": response}), response

    def failed(self, error: ProxyError) -> bytes:
        """``response.failed`` with what was whole so far (an open item is dropped: it never finished)."""
        self._open = None
        response = self._snapshot("failed", error={"code": error.code, "message": error.message})
        return self._event("response.failed", {"response": response})

    def assistant_message(self) -> ChatMessage:
        """The output as the assistant turn of a chat conversation (what ``previous_response_id`` continues)."""
        message = self._assistant
        message.content = "".join(self._texts) if self._texts or not message.tool_calls else None
        message.reasoning_content = self._reasoning.text() or None
        if self._reasoning.signed:
            message.thinking_blocks = [ReasoningBlock.model_validate(b) for b in self._reasoning.blocks()]
        return message


def envelope(response_id: str, model: str, body: Any) -> dict[str, Any]:
    """The fields of a response that echo the request (``body`` is the ``ResponsesRequest``)."""
    reasoning = (
        body.reasoning.model_dump(include={"effort", "summary"})
        if body.reasoning
        else {"effort": None, "summary": None}
    )
    text_format = (body.text.format if body.text else None) or {"type": "text"}
    return {
        "id": response_id,
        "object": "response",
        "created_at": int(time.time()),
        "status": "in_progress",
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": body.instructions,
        "max_output_tokens": body.max_output_tokens,
        "model": model,
        "output": [],
        "parallel_tool_calls": body.parallel_tool_calls is not False,
        "previous_response_id": body.previous_response_id,
        "reasoning": reasoning,
        "store": body.stored,
        "temperature": body.temperature,
        "text": {"format": text_format},
        "tool_choice": body.tool_choice or "auto",
        "tools": body.tools or [],
        "top_p": body.top_p,
        "truncation": "disabled",
        "usage": None,
        "user": body.user,
        "metadata": body.metadata or {},
    }
