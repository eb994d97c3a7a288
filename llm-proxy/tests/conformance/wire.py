"""The provider side of the conformance matrix: one neutral ``Script`` of what the model answers, rendered in each
upstream's wire format (OpenAI SSE, Anthropic SSE, Ollama NDJSON) for the fake upstream, or as directives for the
mock; and, for the round-trip cases, what each upstream received, read back from its wire format.

Every rendering cuts text and arguments into awkward pieces, so a door that joins or re-encodes them wrongly fails.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from llm_proxy.providers.mock_script import thinking_signature
from tests.fakes import Reply, split_every

PROVIDERS = ("openai", "anthropic", "ollama", "mock")
# Provider → the model name a door asks for (the fake upstreams are configured by ``settings``).
MODELS = {"openai": "openai/gpt-up", "anthropic": "anthropic/claude-up", "ollama": "ollama/llama-up", "mock": "mock"}
# Which providers sign reasoning blocks (so a signature must cross the door and come back byte for byte).
SIGNS_REASONING = {"anthropic", "mock"}

# Arguments that break naive translators: escaped quotes and backslashes, \u escapes, non-ASCII, emoji, newlines.
ESCAPED_ARGS = '{"path": "src/caf\\u00e9 \\"x\\".py", "note": "Grüße ✓ 🎉\\\\n", "n": [1, 2.5, null]}'
PLAIN_ARGS = '{"command": "ls -la", "cwd": "/tmp/ü"}'
SIGNATURE = "EqQBCkgIARABGAIiQL+/w8Zx==/sig"


@dataclass
class Call:
    id: str
    name: str
    arguments: str


@dataclass
class Script:
    """What the model answers, whatever the wire."""

    text: str = ""
    thinking: str = ""
    calls: list[Call] = field(default_factory=list)
    usage: tuple[int, int, int] = (21, 8, 0)  # prompt (cache reads included), completion, cached
    fault: str | None = None  # "429" | "500" | "midstream"

    @property
    def finish(self) -> str:
        return "tool_calls" if self.calls else "stop"


def settings(upstream_url: str) -> dict[str, Any]:
    """Proxy settings that point every remote provider at the fake upstream (one server answers all paths)."""
    return {
        "openai_base_url": upstream_url + "/v1",
        "anthropic_base_url": upstream_url,
        "anthropic_api_key": "sk-ant-conformance",
        "ollama_base_url": upstream_url,
        "max_retries": 0,
    }


def expected_arguments(provider: str, arguments: str) -> str:
    """What a door must deliver: the upstream's bytes, except Ollama, which sends arguments as a JSON object that the
    proxy encodes once (compact, key order and non-ASCII kept)."""
    if provider == "ollama":
        return orjson.dumps(orjson.loads(arguments)).decode()
    return arguments


def expected_signature(provider: str, script: Script) -> str | None:
    if provider == "anthropic":
        return SIGNATURE
    if provider == "mock" and script.thinking:
        return thinking_signature(script.thinking)
    return None


def _json_reply(status: int, body: dict[str, Any], **headers: str) -> Reply:
    return Reply(status=status, chunks=[orjson.dumps(body)], content_type="application/json", headers=headers)


def _halves(text: str) -> tuple[str, str]:
    return text[: len(text) // 2], text[len(text) // 2 :]


def upstream_reply(provider: str, script: Script) -> Reply:
    """The fake upstream's answer to one request for ``script`` in ``provider``'s wire format."""
    if script.fault == "429":
        body = {"error": {"message": "slow down", "type": "rate_limit_error", "code": "rate_limit_exceeded"}}
        return _json_reply(429, body, **{"Retry-After": "1"})
    if script.fault == "500":
        return _json_reply(500, {"error": {"message": "upstream exploded", "type": "api_error"}})
    render = {"openai": openai_sse, "anthropic": anthropic_sse, "ollama": ollama_ndjson}[provider]
    content_type = "application/x-ndjson" if provider == "ollama" else "text/event-stream"
    return Reply(chunks=split_every(render(script), (7, 3, 11, 1, 5)), content_type=content_type)


def openai_sse(script: Script) -> bytes:
    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        body = {"id": "up", "object": "chat.completion.chunk", "created": 1, "model": "gpt-up", **extra}
        body["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish}]
        return b"data: " + orjson.dumps(body) + b"\n\n"

    out = [chunk({"role": "assistant", "content": ""})]
    for piece in _halves(script.thinking) if script.thinking else ():
        out.append(chunk({"reasoning_content": piece}))
    for piece in _halves(script.text) if script.text else ():
        out.append(chunk({"content": piece}))
    if script.fault == "midstream":
        return b"".join(out) + b'data: {"error": {"message": "the model crashed", "code": "server_error"}}\n\n'
    for index, call in enumerate(script.calls):
        head = {"index": index, "id": call.id, "type": "function", "function": {"name": call.name, "arguments": ""}}
        out.append(chunk({"tool_calls": [head]}))
        for piece in _halves(call.arguments):
            out.append(chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}))
    out.append(chunk({}, script.finish))
    prompt, completion, cached = script.usage
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    }
    body = {
        "id": "up",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-up",
        "choices": [],
        "usage": usage,
    }
    out.append(b"data: " + orjson.dumps(body) + b"\n\n")
    return b"".join(out) + b"data: [DONE]\n\n"


def anthropic_sse(script: Script) -> bytes:
    def event(data: dict[str, Any]) -> bytes:
        return f"event: {data['type']}\n".encode() + b"data: " + orjson.dumps(data) + b"\n\n"

    prompt, completion, cached = script.usage
    start_usage = {"input_tokens": prompt - cached, "output_tokens": 1, "cache_read_input_tokens": cached}
    out = [event({"type": "message_start", "message": {"id": "msg_up", "role": "assistant", "usage": start_usage}})]
    index = 0
    if script.thinking:
        out.append(
            event({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}})
        )
        for piece in _halves(script.thinking):
            out.append(
                event(
                    {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": piece}}
                )
            )
        signature = {"type": "signature_delta", "signature": SIGNATURE}
        out.append(event({"type": "content_block_delta", "index": 0, "delta": signature}))
        out.append(event({"type": "content_block_stop", "index": 0}))
        index = 1
    out.append(event({"type": "ping"}))
    if script.text:
        out.append(
            event({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}})
        )
        for piece in _halves(script.text):
            out.append(
                event({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": piece}})
            )
        if script.fault == "midstream":
            error = {"type": "error", "error": {"type": "api_error", "message": "the model crashed"}}
            return b"".join(out) + event(error)
        out.append(event({"type": "content_block_stop", "index": index}))
        index += 1
    for call in script.calls:
        block = {"type": "tool_use", "id": call.id, "name": call.name, "input": {}}
        out.append(event({"type": "content_block_start", "index": index, "content_block": block}))
        for piece in _halves(call.arguments):
            delta = {"type": "input_json_delta", "partial_json": piece}
            out.append(event({"type": "content_block_delta", "index": index, "delta": delta}))
        out.append(event({"type": "content_block_stop", "index": index}))
        index += 1
    stop = "tool_use" if script.calls else "end_turn"
    out.append(event({"type": "message_delta", "delta": {"stop_reason": stop}, "usage": {"output_tokens": completion}}))
    return b"".join(out) + event({"type": "message_stop"})


def ollama_ndjson(script: Script) -> bytes:
    def line(message: dict[str, Any], **extra: Any) -> bytes:
        return orjson.dumps({"model": "llama-up", "message": {"role": "assistant", **message}, **extra}) + b"\n"

    out = [line({"content": "", "thinking": piece}) for piece in (_halves(script.thinking) if script.thinking else ())]
    out += [line({"content": piece}) for piece in (_halves(script.text) if script.text else ())]
    if script.fault == "midstream":
        return b"".join(out) + b'{"error": "the model crashed"}\n'
    if script.calls:
        calls = [
            {"id": c.id, "function": {"name": c.name, "arguments": orjson.loads(c.arguments)}} for c in script.calls
        ]
        out.append(line({"content": "", "tool_calls": calls}))
    prompt, completion, _ = script.usage
    done = {"done": True, "done_reason": "stop", "prompt_eval_count": prompt, "eval_count": completion}
    return b"".join(out) + line({"content": ""}, **done)


def mock_directives(script: Script, round: int = 1) -> str:
    """The same script as mock directives for answer ``round`` (the mock's own ids and signatures are
    deterministic)."""
    parts: list[str] = []
    if script.thinking:
        parts.append(f"[[think:{script.thinking}]]")
    if script.text:
        parts.append(f"[[text:{script.text}]]")
    parts += [f"[[tool:{c.name} {c.arguments}]]" for c in script.calls]
    if script.fault:
        parts.append(f"[[fault:{script.fault}]]")
    parts.append(f"[[usage:{script.usage[0]} {script.usage[1]}]]")
    prefix = f"{round}:" if round > 1 else ""
    return " ".join(part.replace("[[", "[[" + prefix, 1) for part in parts)


# -- what an upstream received (the round-trip cases) -------------------------------------------------------------


@dataclass
class Received:
    """A request as an upstream saw it, reduced to what crosses doors."""

    calls: list[tuple[str, str, str]] = field(default_factory=list)
    results: list[tuple[str, str]] = field(default_factory=list)
    signed_reasoning: list[tuple[str, str]] = field(default_factory=list)


def received(provider: str, body: dict[str, Any]) -> Received:
    """The calls (id, name, arguments as JSON text), results (call id, text; Ollama: the tool's name) and signed
    reasoning of a request an upstream received."""
    out = Received()
    if provider == "anthropic":
        for message in body["messages"]:
            for block in message["content"] if isinstance(message["content"], list) else ():
                if block["type"] == "tool_use":
                    out.calls.append((block["id"], block["name"], orjson.dumps(block["input"]).decode()))
                elif block["type"] == "tool_result":
                    content = block.get("content")
                    text = content if isinstance(content, str) else "".join(b.get("text", "") for b in content or ())
                    out.results.append((block["tool_use_id"], text))
                elif block["type"] == "thinking":
                    out.signed_reasoning.append((block["thinking"], block["signature"]))
        return out
    for message in body["messages"]:
        for call in message.get("tool_calls") or ():
            function = call["function"]
            arguments = function["arguments"]
            if not isinstance(arguments, str):  # Ollama takes an object
                arguments = orjson.dumps(arguments).decode()
            out.calls.append((call.get("id", ""), function["name"], arguments))
        if message["role"] == "tool":
            out.results.append((message.get("tool_call_id") or message.get("tool_name", ""), message["content"]))
    return out
