"""The client side of the conformance matrix: each front door renders the same neutral conversation in its API,
sends it (streamed or not), checks its event grammar (the exact order its API defines), and reduces the answer to
one ``Outcome`` the matrix compares across doors and providers.

To add a door: write a class with ``name``, ``request(...)`` and ``outcome(...)`` like ``ChatDoor`` and add it to
``DOORS``; every case and provider then runs through it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from llm_proxy.doors.responses_items import seal, unseal
from tests.conformance.wire import Call, Script

TOOL_NAMES = ("read_file", "run")


@dataclass
class History:
    """An earlier assistant turn to send back (its reasoning, text and calls), and the results of its calls."""

    turn: Script
    signature: str | None = None
    results: list[tuple[str, str]] = field(default_factory=list)  # (call id, output)


@dataclass
class Outcome:
    status: int
    text: str = ""
    reasoning: str = ""
    signatures: list[str] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    finish: str | None = None
    usage: tuple[int, int, int] | None = None  # prompt, completion, cached
    error: str | None = None  # the error code, from the HTTP answer or the stream
    events: list[str] = field(default_factory=list)  # the stream's event kinds in order
    # The door's API carries tool arguments as JSON objects (an Anthropic message that is not streamed): there are no
    # bytes to compare, so values and key order are compared.
    objects: bool = False


def _sse_data(text: str) -> list[str]:
    return [line[6:] for line in text.split("\n") if line.startswith("data: ")]


def _grammar(tokens: list[str], pattern: str, door: str) -> None:
    """``tokens`` (one letter-word per event) must match ``pattern`` exactly: the door's event order."""
    joined = " ".join(tokens)
    assert re.fullmatch(pattern, joined), f"{door}: event order not allowed by the API: {joined}"


class ChatDoor:
    name = "chat"
    path = "/v1/chat/completions"
    sends_objects = False  # tool arguments go upstream as the client wrote them
    # role, then content/reasoning/tool pieces, one finish, the usage chunk, [DONE]; or an error event last.
    ok = r"role( (text|reasoning|signed|tool))* finish usage done"
    failed = r"(role( (text|reasoning|signed|tool))* )?error"

    def request(self, model: str, prompt: str, history: History | None, *, stream: bool) -> dict[str, Any]:
        messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]
        if history is not None:
            turn = history.turn
            assistant: dict[str, Any] = {"role": "assistant", "content": turn.text or None}
            if turn.thinking:
                assistant["reasoning_content"] = turn.thinking
                if history.signature:
                    block = {"type": "thinking", "thinking": turn.thinking, "signature": history.signature}
                    assistant["thinking_blocks"] = [block]
            if turn.calls:
                assistant["tool_calls"] = [
                    {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                    for c in turn.calls
                ]
            messages.append(assistant)
            messages += [{"role": "tool", "tool_call_id": i, "content": out} for i, out in history.results]
        tools = [{"type": "function", "function": {"name": n, "parameters": {"type": "object"}}} for n in TOOL_NAMES]
        body: dict[str, Any] = {"model": model, "messages": messages, "tools": tools, "stream": stream}
        if stream:
            body["stream_options"] = {"include_usage": True}
        return body

    def outcome(self, status: int, text: str, *, stream: bool) -> Outcome:
        if not stream or status != 200:
            return self._whole(status, orjson.loads(text))
        out = Outcome(status)
        pieces: dict[int, list[str]] = {}
        heads: dict[int, tuple[str, str]] = {}
        for data in _sse_data(text):
            if data == "[DONE]":
                out.events.append("done")
                continue
            chunk = orjson.loads(data)
            if "error" in chunk:
                out.error = chunk["error"]["code"]
                out.events.append("error")
                continue
            if chunk.get("usage"):
                out.usage = _chat_usage(chunk["usage"])
                out.events.append("usage")
            for choice in chunk["choices"]:
                delta = choice["delta"]
                if "role" in delta:
                    out.events.append("role")
                if delta.get("content"):
                    out.text += delta["content"]
                    out.events.append("text")
                if delta.get("reasoning_content"):
                    out.reasoning += delta["reasoning_content"]
                    out.events.append("reasoning")
                for block in delta.get("thinking_blocks") or ():
                    out.signatures.append(block.get("signature") or block.get("data"))
                    out.events.append("signed")
                for call in delta.get("tool_calls") or ():
                    if call.get("id"):
                        heads[call["index"]] = (call["id"], call["function"]["name"])
                    pieces.setdefault(call["index"], []).append(call["function"].get("arguments") or "")
                    out.events.append("tool")
                if choice.get("finish_reason"):
                    out.finish = choice["finish_reason"]
                    out.events.append("finish")
        out.calls = [Call(*heads[i], "".join(pieces[i])) for i in sorted(pieces)]
        _grammar(out.events, self.failed if out.error else self.ok, self.name)
        return out

    @staticmethod
    def _whole(status: int, body: dict[str, Any]) -> Outcome:
        if status != 200:
            return Outcome(status, error=body["error"]["code"])
        choice = body["choices"][0]
        message = choice["message"]
        calls = [
            Call(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in message.get("tool_calls") or ()
        ]
        signatures = [b.get("signature") or b.get("data") for b in message.get("thinking_blocks") or ()]
        return Outcome(
            status,
            text=message.get("content") or "",
            reasoning=message.get("reasoning_content") or "",
            signatures=signatures,
            calls=calls,
            finish=choice["finish_reason"],
            usage=_chat_usage(body["usage"]),
        )


def _chat_usage(usage: dict[str, Any]) -> tuple[int, int, int]:
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    return usage["prompt_tokens"], usage["completion_tokens"], cached


# Responses API event kinds, abbreviated for the grammar.
_RESPONSES_TOKENS = {
    "response.created": "created",
    "response.in_progress": "progress",
    "response.output_item.added": "added",
    "response.content_part.added": "part",
    "response.output_text.delta": "text",
    "response.output_text.done": "text_done",
    "response.reasoning_text.delta": "think",
    "response.reasoning_text.done": "think_done",
    "response.content_part.done": "part_done",
    "response.function_call_arguments.delta": "args",
    "response.function_call_arguments.done": "args_done",
    "response.output_item.done": "done",
    "response.completed": "completed",
    "response.incomplete": "incomplete",
    "response.failed": "failed",
    "error": "error",
}
_ITEM = r"added (part( text)* text_done part_done|part( think)* think_done part_done|(args )*args_done) done"


class ResponsesDoor:
    name = "responses"
    path = "/v1/responses"
    sends_objects = False  # tool arguments go upstream as the client wrote them
    ok = rf"created progress( {_ITEM})* (completed|incomplete)"
    failed = rf"created progress( {_ITEM})*( added( \w+)*)? failed|error"

    def request(self, model: str, prompt: str, history: History | None, *, stream: bool) -> dict[str, Any]:
        items: list[dict[str, Any]] = [{"type": "message", "role": "user", "content": prompt}]
        if history is not None:
            turn = history.turn
            if turn.thinking:
                reasoning: dict[str, Any] = {"type": "reasoning", "id": "rs_1", "summary": []}
                if history.signature:  # sent back as the Codex CLI does: the sealed block without its text
                    block = {"type": "thinking", "thinking": turn.thinking, "signature": history.signature}
                    reasoning["encrypted_content"] = seal(block)
                else:
                    reasoning["content"] = [{"type": "reasoning_text", "text": turn.thinking}]
                items.append(reasoning)
            if turn.text:
                content = [{"type": "output_text", "text": turn.text, "annotations": []}]
                items.append({"type": "message", "role": "assistant", "id": "msg_1", "content": content})
            for call in turn.calls:
                items.append(
                    {
                        "type": "function_call",
                        "id": f"fc_{call.id}",
                        "call_id": call.id,
                        "name": call.name,
                        "arguments": call.arguments,
                    }
                )
            items += [{"type": "function_call_output", "call_id": i, "output": out} for i, out in history.results]
        tools = [{"type": "function", "name": n, "parameters": {"type": "object"}} for n in TOOL_NAMES]
        return {"model": model, "input": items, "tools": tools, "stream": stream, "store": False}

    def outcome(self, status: int, text: str, *, stream: bool) -> Outcome:
        if status != 200:
            return Outcome(status, error=orjson.loads(text)["error"]["code"])
        if not stream:
            return self._response(status, orjson.loads(text))
        events = [orjson.loads(data) for data in _sse_data(text)]
        tokens = [_RESPONSES_TOKENS[e["type"]] for e in events]
        assert [e["sequence_number"] for e in events] == list(range(len(events)))
        last = events[-1]
        if last["type"] == "error":
            out = Outcome(status, error=last["code"], events=tokens)
        else:
            out = self._response(status, last["response"], tokens)
        _grammar(tokens, self.failed if out.error else self.ok, self.name)
        if not out.error:  # the deltas add up to what the items say
            deltas = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
            assert deltas == out.text
            arguments = "".join(e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta")
            assert arguments == "".join(c.arguments for c in out.calls)
        return out

    @staticmethod
    def _response(status: int, response: dict[str, Any], tokens: list[str] | None = None) -> Outcome:
        out = Outcome(status, events=tokens or [])
        if response["status"] == "failed":
            out.error = response["error"]["code"]
            return out
        for item in response["output"]:
            if item["type"] == "message":
                out.text += "".join(part["text"] for part in item["content"])
            elif item["type"] == "reasoning":
                out.reasoning += "".join(part["text"] for part in item.get("content") or ())
                block = unseal(item["encrypted_content"]) if item.get("encrypted_content") else None
                if block is not None:
                    out.signatures.append(block.signature or block.data or "")
            elif item["type"] == "function_call":
                out.calls.append(Call(item["call_id"], item["name"], item["arguments"]))
        out.finish = "tool_calls" if out.calls else "stop"
        if response["status"] == "incomplete":
            out.finish = "length"
        usage = response["usage"]
        out.usage = (usage["input_tokens"], usage["output_tokens"], usage["input_tokens_details"]["cached_tokens"])
        return out


# Anthropic Messages event kinds, abbreviated for the grammar.
_MESSAGES_TOKENS = {
    "message_start": "start",
    "ping": "ping",
    "content_block_start": "open",
    "content_block_stop": "close",
    "message_delta": "delta",
    "message_stop": "stop",
    "error": "error",
}
_BLOCK = r"open( (text|think|sign|args))* close"
# Anthropic error type → the proxy's error code (what the matrix compares across doors).
_ANTHROPIC_ERRORS = {"rate_limit_error": "rate_limit_exceeded", "api_error": "upstream_error"}


class MessagesDoor:
    name = "messages"
    path = "/v1/messages"
    sends_objects = True  # a tool_use block's input is an object: the proxy encodes it once for the upstream
    ok = rf"start ping( {_BLOCK})* delta stop"
    failed = rf"start ping( {_BLOCK})*( open( \w+)*)? error|error"

    def request(self, model: str, prompt: str, history: History | None, *, stream: bool) -> dict[str, Any]:
        messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]
        if history is not None:
            turn = history.turn
            blocks: list[dict[str, Any]] = []
            if turn.thinking and history.signature:  # Anthropic has no place for unsigned thinking
                blocks.append({"type": "thinking", "thinking": turn.thinking, "signature": history.signature})
            if turn.text:
                blocks.append({"type": "text", "text": turn.text})
            blocks += [
                {"type": "tool_use", "id": c.id, "name": c.name, "input": orjson.loads(c.arguments)} for c in turn.calls
            ]
            messages.append({"role": "assistant", "content": blocks})
            results = [{"type": "tool_result", "tool_use_id": i, "content": out} for i, out in history.results]
            messages.append({"role": "user", "content": results})
        tools = [{"name": n, "input_schema": {"type": "object"}} for n in TOOL_NAMES]
        return {"model": model, "max_tokens": 1000, "messages": messages, "tools": tools, "stream": stream}

    def outcome(self, status: int, text: str, *, stream: bool) -> Outcome:
        if status != 200:
            return Outcome(status, error=_ANTHROPIC_ERRORS.get(orjson.loads(text)["error"]["type"]))
        if not stream:
            return self._message(status, orjson.loads(text))
        events = [orjson.loads(data) for data in _sse_data(text)]
        tokens: list[str] = []
        blocks: dict[int, dict[str, Any]] = {}
        arguments: dict[int, list[str]] = {}
        message: dict[str, Any] = {}
        for event in events:
            kind = event["type"]
            if kind == "content_block_delta":
                delta = event["delta"]
                block = blocks[event["index"]]
                token = {"text_delta": "text", "thinking_delta": "think", "signature_delta": "sign"}.get(
                    delta["type"], "args"
                )
                tokens.append(token)
                if token == "text":
                    block["text"] += delta["text"]
                elif token == "think":
                    block["thinking"] += delta["thinking"]
                elif token == "sign":
                    block["signature"] = delta["signature"]
                else:
                    arguments.setdefault(event["index"], []).append(delta["partial_json"])
                continue
            tokens.append(_MESSAGES_TOKENS[kind])
            if kind == "message_start":
                message = event["message"]
            elif kind == "content_block_start":
                blocks[event["index"]] = dict(event["content_block"])
            elif kind == "message_delta":
                message.update(event["delta"], usage={**message["usage"], **event["usage"]})
            elif kind == "error":
                out = Outcome(status, error=_ANTHROPIC_ERRORS.get(event["error"]["type"]), events=tokens)
                _grammar(tokens, self.failed, self.name)
                return out
        message["content"] = [blocks[i] for i in sorted(blocks)]
        out = self._message(status, message, tokens, {i: "".join(p) for i, p in arguments.items()})
        _grammar(tokens, self.ok, self.name)
        return out

    @staticmethod
    def _message(
        status: int, message: dict[str, Any], tokens: list[str] | None = None, streamed: dict[int, str] | None = None
    ) -> Outcome:
        out = Outcome(status, events=tokens or [], objects=streamed is None)
        for index, block in enumerate(message["content"]):
            if block["type"] == "text":
                out.text += block["text"]
            elif block["type"] == "thinking":
                out.reasoning += block["thinking"]
                if block.get("signature"):
                    out.signatures.append(block["signature"])
            elif block["type"] == "redacted_thinking":
                out.signatures.append(block["data"])
            elif block["type"] == "tool_use":
                # Streamed: the fragments as they came (byte for byte); whole: the input object, encoded compactly.
                raw = streamed[index] if streamed is not None else orjson.dumps(block["input"]).decode()
                out.calls.append(Call(block["id"], block["name"], raw))
        out.finish = {"end_turn": "stop", "tool_use": "tool_calls", "max_tokens": "length"}[message["stop_reason"]]
        usage = message["usage"]
        cached = usage.get("cache_read_input_tokens") or 0
        prompt = usage["input_tokens"] + cached + (usage.get("cache_creation_input_tokens") or 0)
        out.usage = (prompt, usage["output_tokens"], cached)
        return out


DOORS = (ChatDoor(), ResponsesDoor(), MessagesDoor())
