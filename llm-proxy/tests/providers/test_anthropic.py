"""The anthropic provider: the request translated to the Messages API, its stream translated back."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from llm_proxy.catalog import ModelEntry
from llm_proxy.errors import ProxyError
from llm_proxy.providers.anthropic_wire import request_body
from llm_proxy.schemas import ChatCompletionRequest
from tests.fakes import FIXTURES, FakeUpstream, Reply, chat, fixture_bytes, split_every, sse_events

ENTRY = ModelEntry("claude", "anthropic", "claude-up", 200000, 8000)
EXPECTED = json.loads((FIXTURES / "anthropic_tools.expected.json").read_text())


def settings_for(upstream: FakeUpstream, **extra: Any) -> dict[str, Any]:
    return {"anthropic_base_url": upstream.url, "anthropic_api_key": "sk-ant-secret", **extra}


def claude(content: str = "hi", **extra: Any) -> dict[str, Any]:
    return {**chat(content, **extra), "model": "anthropic/claude-up"}


def translated(**body: Any) -> dict[str, Any]:
    request = ChatCompletionRequest.model_validate({"model": "claude", **body})
    return dict(orjson.loads(request_body(request, ENTRY)))


def test_system_tools_and_tool_results_are_translated_and_paired():
    sent = translated(
        messages=[
            {"role": "system", "content": "Be brief."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "look"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                ],
            },
            {
                "role": "assistant",
                "content": "ok",
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "read", "arguments": '{"p": "é"}'}},
                    {"id": "c2", "type": "function", "function": {"name": "ls", "arguments": ""}},
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "file"},
            {"role": "tool", "tool_call_id": "c2", "content": "dir"},
            {"role": "user", "content": "thanks"},
        ],
        tools=[
            {"type": "function", "function": {"name": "read", "description": "d", "parameters": {"type": "object"}}}
        ],
        tool_choice="required",
        parallel_tool_calls=False,
        temperature=1.5,
        stop="END",
    )
    assert sent["system"] == "Be brief."
    assert sent["model"] == "claude-up"
    assert sent["max_tokens"] == 8000
    assert sent["tools"] == [{"name": "read", "description": "d", "input_schema": {"type": "object"}}]
    assert sent["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert sent["temperature"] == 1.0
    assert sent["stop_sequences"] == ["END"]
    user, assistant, results = sent["messages"]
    assert user["content"][1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"},
    }
    assert assistant["content"][1] == {"type": "tool_use", "id": "c1", "name": "read", "input": {"p": "é"}}
    assert assistant["content"][2]["input"] == {}
    assert [b["type"] for b in results["content"]] == ["tool_result", "tool_result", "text"]
    assert results["content"][0]["tool_use_id"] == "c1"


def test_an_orphan_tool_result_is_refused_before_calling():
    with pytest.raises(ProxyError) as caught:
        translated(
            messages=[{"role": "user", "content": "x"}, {"role": "tool", "tool_call_id": "nope", "content": "r"}]
        )
    assert caught.value.status == 400
    assert "nope" in caught.value.message


def test_a_tool_call_without_result_is_refused_before_calling():
    call = {"id": "c9", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    with pytest.raises(ProxyError) as caught:
        translated(
            messages=[
                {"role": "user", "content": "x"},
                {"role": "assistant", "tool_calls": [call]},
                {"role": "user", "content": "y"},
            ]
        )
    assert "c9" in caught.value.message


async def test_streamed_tool_use_becomes_indexed_tool_calls_byte_for_byte(proxy_client, upstream):
    upstream.play(Reply(chunks=split_every(fixture_bytes("anthropic_tools.sse"))))
    async with proxy_client(**settings_for(upstream)) as client:
        response = await client.post("/v1/chat/completions", json=claude())
    choice = response.json()["choices"][0]
    calls = choice["message"]["tool_calls"]
    assert choice["message"]["content"] == "Let me look — ✓ done"
    assert [(c["id"], c["function"]["name"]) for c in calls] == [
        ("toolu_1", "write_file"),
        ("toolu_2", "search"),
        ("toolu_3", "noop"),
    ]
    assert calls[0]["function"]["arguments"] == EXPECTED["args0"]
    assert calls[1]["function"]["arguments"] == EXPECTED["args1"]
    assert calls[2]["function"]["arguments"] == "{}"
    assert choice["finish_reason"] == "tool_calls"
    assert upstream.headers[0]["x-api-key"] == "sk-ant-secret"
    assert upstream.headers[0]["anthropic-version"] == "2023-06-01"


async def test_usage_counts_cache_reads_and_writes_as_prompt_tokens(proxy_client, upstream):
    upstream.play(Reply(chunks=[fixture_bytes("anthropic_tools.sse")]))
    async with proxy_client(**settings_for(upstream)) as client:
        response = await client.post("/v1/chat/completions", json=claude())
    usage = response.json()["usage"]
    assert usage["prompt_tokens"] == 150
    assert usage["completion_tokens"] == 55
    assert usage["prompt_tokens_details"] == {"cached_tokens": 30}


async def test_an_error_event_mid_stream_ends_the_stream_with_an_error(proxy_client, upstream):
    upstream.play(Reply(chunks=[fixture_bytes("anthropic_error_midstream.sse")]))
    async with proxy_client(**settings_for(upstream)) as client:
        response = await client.post("/v1/chat/completions", json=claude(stream=True))
    events = sse_events(response.text)
    assert b"partial" in events[1]
    assert orjson.loads(events[-1])["error"]["code"] == "upstream_unavailable"
    assert b"[DONE]" not in events


async def test_overloaded_529_is_a_503_after_retries(proxy_client, upstream):
    body = orjson.dumps({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    upstream.play(Reply(status=529, chunks=[body], content_type="application/json"))
    async with proxy_client(**settings_for(upstream, max_retries=1)) as client:
        response = await client.post("/v1/chat/completions", json=claude())
    assert response.status_code == 503
    assert len(upstream.requests) == 2


async def test_prompt_too_long_is_a_context_length_error(proxy_client, upstream):
    body = orjson.dumps(
        {"type": "error", "error": {"type": "invalid_request_error", "message": "prompt is too long: 300000 tokens"}}
    )
    upstream.play(Reply(status=400, chunks=[body], content_type="application/json"))
    async with proxy_client(**settings_for(upstream)) as client:
        response = await client.post("/v1/chat/completions", json=claude())
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "context_length_exceeded"


async def test_thinking_becomes_reasoning_content(proxy_client, upstream):
    def event(data: dict[str, Any]) -> bytes:
        return b"event: x\ndata: " + orjson.dumps(data) + b"\n\n"

    thinking = {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "hmm"}}
    signature = {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "s"}}
    text = {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "yes"}}
    end = {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 3}}
    chunks = [event(e) for e in (thinking, signature, text, end, {"type": "message_stop"})]
    upstream.play(Reply(chunks=chunks))
    async with proxy_client(**settings_for(upstream)) as client:
        response = await client.post("/v1/chat/completions", json=claude())
    message = response.json()["choices"][0]["message"]
    assert (message["reasoning_content"], message["content"]) == ("hmm", "yes")
    assert response.json()["choices"][0]["finish_reason"] == "stop"


CACHED = ModelEntry("claude", "anthropic", "claude-up", 200000, 8000, cache="auto")
EPHEMERAL = {"type": "ephemeral"}


def cached_translation(entry: ModelEntry, **body: Any) -> dict[str, Any]:
    request = ChatCompletionRequest.model_validate({"model": "claude", **body})
    return dict(orjson.loads(request_body(request, entry)))


def test_client_cache_breakpoints_and_failed_tool_results_reach_anthropic_as_given():
    call = {"id": "c1", "type": "function", "function": {"name": "ls", "arguments": "{}"}}
    sent = cached_translation(
        ENTRY,
        messages=[
            {
                "role": "system",
                "content": [
                    {"type": "text", "text": "A"},
                    {"type": "text", "text": "B", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
                ],
            },
            {"role": "user", "content": [{"type": "text", "text": "go", "cache_control": EPHEMERAL}]},
            {"role": "assistant", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "c1", "content": "denied", "is_error": True},
        ],
        tools=[{"type": "function", "function": {"name": "ls"}, "cache_control": EPHEMERAL}],
    )
    assert sent["system"] == [
        {"type": "text", "text": "A"},
        {"type": "text", "text": "B", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
    ]
    assert sent["messages"][0]["content"] == [{"type": "text", "text": "go", "cache_control": EPHEMERAL}]
    assert sent["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "c1", "content": "denied", "is_error": True}
    ]
    assert sent["tools"][0]["cache_control"] == EPHEMERAL


def test_cache_auto_puts_breakpoints_on_the_stable_prefix_when_the_client_set_none():
    messages = [
        {"role": "system", "content": "You code."},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "second"},
    ]
    tools = [{"type": "function", "function": {"name": n}} for n in ("a", "b")]
    sent = cached_translation(CACHED, messages=messages, tools=tools)
    assert sent["system"] == [{"type": "text", "text": "You code.", "cache_control": EPHEMERAL}]
    assert "cache_control" not in sent["tools"][0]
    assert sent["tools"][1]["cache_control"] == EPHEMERAL
    assert sent["messages"][1]["content"][-1] == {"type": "text", "text": "ok", "cache_control": EPHEMERAL}
    assert "cache_control" not in sent["messages"][2]["content"][-1]
    # Without cache: auto nothing is added; with a client breakpoint, only the client's stays.
    assert b"cache_control" not in request_body(ChatCompletionRequest.model_validate({"messages": messages}), ENTRY)
    own = [{"role": "user", "content": [{"type": "text", "text": "x", "cache_control": EPHEMERAL}]}]
    sent = cached_translation(CACHED, messages=[messages[0], *own], tools=tools)
    assert sent["system"] == "You code."
    assert "cache_control" not in sent["tools"][1]
