"""``POST /v1/messages`` → the neutral request: what Anthropic, OpenAI and Ollama upstreams receive from an Anthropic
client (Claude Code's request shape, thinking, caching, sampling, stop sequences, tool choice)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from llm_proxy.doors.messages_request import neutral_request, parse_messages_request
from llm_proxy.errors import ProxyError
from tests.fakes import Reply, fixture_bytes, split_every
from tests.fakes import typed_sse_events as events
from tests.test_messages import ANTHROPIC, body, post

CLAUDE_CODE_LIKE = {
    "model": "m",
    "max_tokens": 32000,
    "stream": True,
    "metadata": {"user_id": '{"device_id":"d","session_id":"s"}'},
    "context_management": {"edits": []},
    "thinking": {"type": "enabled", "budget_tokens": 31999},
    "system": [
        {"type": "text", "text": "You are Claude Code."},
        {"type": "text", "text": "Rules.", "cache_control": {"type": "ephemeral"}},
    ],
    "tools": [
        {
            "name": "Read",
            "description": "read a file",
            "input_schema": {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object"},
            "defer_loading": True,
        }
    ],
    "messages": [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "<system-reminder>x</system-reminder>"},
                {"type": "text", "text": "read a.py"},
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "I should read it", "signature": "c2ln+/=="},
                {"type": "redacted_thinking", "data": "ZGF0YQ=="},
                {"type": "text", "text": ""},
                {"type": "tool_use", "id": "toolu_9", "name": "Read", "input": {"file_path": "/tmp/é.py", "n": 1}},
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_9",
                    "content": "no such file",
                    "is_error": True,
                    "cache_control": {"type": "ephemeral"},
                },
            ],
        },
        {"role": "system", "content": "late system note"},
    ],
}


def test_a_claude_code_request_becomes_the_neutral_request():
    request = neutral_request(parse_messages_request(orjson.dumps(CLAUDE_CODE_LIKE)))
    roles = [m.role for m in request.messages]
    assert roles == ["system", "user", "assistant", "tool", "system"]
    system = request.messages[0].content
    assert isinstance(system, list)
    assert system[1].cache_control is not None
    assistant = request.messages[2]
    assert assistant.content is None
    assert assistant.tool_calls is not None
    assert assistant.tool_calls[0].function.arguments == '{"file_path":"/tmp/é.py","n":1}'
    assert [b.type for b in assistant.thinking_blocks or ()] == ["thinking", "redacted_thinking"]
    assert request.messages[3].is_error is True
    assert request.thinking is not None
    assert request.thinking.budget_tokens == 31999
    assert request.max_tokens == 32000


async def test_an_anthropic_upstream_gets_the_request_back_intact(proxy_client, upstream):
    upstream.play(Reply(chunks=split_every(fixture_bytes("anthropic_tools.sse"))))
    settings = {"anthropic_base_url": upstream.url, "anthropic_api_key": "sk-ant-up", "default_context_window": 200000}
    async with proxy_client(**settings) as client:
        response = await post(client, {**CLAUDE_CODE_LIKE, "model": "anthropic/claude-up"})
    assert response.status_code == 200
    sent = upstream.requests[0]
    # role "system" messages inside ``messages`` join the system prompt (Anthropic has no place for them)
    assert sent["system"] == [*CLAUDE_CODE_LIKE["system"], {"type": "text", "text": "late system note"}]
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 31999}
    assert sent["max_tokens"] == 32000
    assistant = sent["messages"][1]["content"]
    assert assistant[0] == {"type": "thinking", "thinking": "I should read it", "signature": "c2ln+/=="}
    assert assistant[1] == {"type": "redacted_thinking", "data": "ZGF0YQ=="}
    assert assistant[2] == {
        "type": "tool_use",
        "id": "toolu_9",
        "name": "Read",
        "input": {"file_path": "/tmp/é.py", "n": 1},
    }
    assert sent["messages"][2]["content"][0]["is_error"] is True
    assert sent["tools"][0]["input_schema"]["$schema"].startswith("https://json-schema.org")
    assert "context_management" not in sent
    assert "defer_loading" not in sent["tools"][0]
    assert upstream.headers[0]["x-api-key"] == "sk-ant-up"  # the proxy's key, never the client's


async def sent_upstream(proxy_client: Any, upstream: Any, reply: Reply, model: str, **settings: Any) -> dict[str, Any]:
    """What an upstream received for the Claude-Code-shaped request; Anthropic-only fields must not be in it."""
    upstream.play(reply)
    async with proxy_client(default_context_window=200000, **settings) as client:
        response = await post(client, {**CLAUDE_CODE_LIKE, "model": model})
    assert response.status_code == 200
    raw = orjson.dumps(upstream.requests[0])
    for word in (b"cache_control", b"signature", b"is_error", b"defer_loading", b"context_management", b"redacted"):
        assert word not in raw
    assert b"ZGF0YQ==" not in raw  # the redacted block's data
    return dict(upstream.requests[0])


async def test_an_openai_upstream_gets_no_anthropic_only_fields(proxy_client, upstream):
    reply = Reply(chunks=[fixture_bytes("openai_tools.sse")])
    sent = await sent_upstream(proxy_client, upstream, reply, "openai/gpt-x", openai_base_url=upstream.url + "/v1")
    assert b"thinking" not in orjson.dumps(sent)
    assert [m["role"] for m in sent["messages"]] == ["system", "user", "assistant", "tool", "system"]
    assert sent["messages"][2]["tool_calls"][0]["function"]["arguments"] == '{"file_path":"/tmp/é.py","n":1}'


def test_a_tool_result_without_its_call_id_is_refused():
    payload = body("x")
    payload["messages"] = [{"role": "user", "content": [{"type": "tool_result", "content": "r"}]}]
    with pytest.raises(ProxyError) as caught:
        neutral_request(parse_messages_request(orjson.dumps(payload)))
    assert caught.value.param == "messages[0].content[0]"


@pytest.mark.parametrize(
    ("choice", "upstream_choice"),
    [
        ({"type": "auto"}, {"type": "auto"}),
        ({"type": "any", "disable_parallel_tool_use": True}, {"type": "any", "disable_parallel_tool_use": True}),
        ({"type": "tool", "name": "Read"}, {"type": "tool", "name": "Read"}),
        ({"type": "none"}, {"type": "none"}),
    ],
)
async def test_sampling_stops_and_tool_choice_reach_anthropic_as_sent(proxy_client, upstream, choice, upstream_choice):
    upstream.play(Reply(chunks=[fixture_bytes("anthropic_tools.sse")]))
    request = {
        "model": "anthropic/claude-up",
        "max_tokens": 300,
        "temperature": 0.4,
        "top_p": 0.9,
        "stop_sequences": ["END", "STOP"],
        "tool_choice": choice,
        "tools": CLAUDE_CODE_LIKE["tools"],
        "messages": [{"role": "user", "content": "go"}],
    }
    async with proxy_client(anthropic_base_url=upstream.url, anthropic_api_key="k") as client:
        response = await post(client, request)
    assert response.status_code == 200
    sent = upstream.requests[0]
    assert sent["tool_choice"] == upstream_choice
    assert (sent["temperature"], sent["top_p"], sent["stop_sequences"]) == (0.4, 0.9, ["END", "STOP"])


async def test_cache_tokens_from_anthropic_are_reported_apart(proxy_client, upstream):
    upstream.play(Reply(chunks=[fixture_bytes("anthropic_tools.sse")]))
    async with proxy_client(anthropic_base_url=upstream.url, anthropic_api_key="k") as client:
        whole = (await post(client, body("go", model="anthropic/claude-up"))).json()
        streamed = events((await post(client, body("go", model="anthropic/claude-up", stream=True))).text)
    # The fixture's message_start: 100 uncached input tokens, 30 read from the cache, 20 written to it.
    assert whole["usage"] == {
        "input_tokens": 100,
        "cache_read_input_tokens": 30,
        "cache_creation_input_tokens": 20,
        "output_tokens": 55,
    }
    assert streamed[-2]["usage"] == whole["usage"]


async def test_the_stop_sequence_that_ended_an_anthropic_answer_is_reported(proxy_client, upstream):
    def event(data: dict[str, Any]) -> bytes:
        return f"event: {data['type']}\n".encode() + b"data: " + orjson.dumps(data) + b"\n\n"

    stream = [
        {"type": "message_start", "message": {"usage": {"input_tokens": 5, "output_tokens": 1}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "one two"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "stop_sequence", "stop_sequence": "THREE"}, "usage": {}},
        {"type": "message_stop"},
    ]
    upstream.play(Reply(chunks=[b"".join(event(e) for e in stream)]))
    request = body("count", model="anthropic/claude-up", stop_sequences=["THREE"])
    async with proxy_client(anthropic_base_url=upstream.url, anthropic_api_key="k") as client:
        whole = (await post(client, request)).json()
        streamed = events((await post(client, {**request, "stream": True})).text)
        chat = await client.post(
            "/v1/chat/completions",
            json={"model": "anthropic/claude-up", "messages": [{"role": "user", "content": "count"}], "stop": "THREE"},
        )
    assert (whole["stop_reason"], whole["stop_sequence"]) == ("stop_sequence", "THREE")
    assert streamed[-2]["delta"] == {"stop_reason": "stop_sequence", "stop_sequence": "THREE"}
    assert chat.json()["choices"][0]["finish_reason"] == "stop"


async def test_a_claude_code_turn_on_the_mock_as_documented(proxy_client, tmp_path):
    """What doc/clients.md tells a Claude Code user to do without a provider: a mock model with a large window,
    and Claude Code's request shape for a name it does not know (adaptive thinking, output_config, a system
    message inside ``messages``, ~22k tokens of prompt, max_tokens 32000, ``Accept: application/json``)."""
    models = tmp_path / "models.yaml"
    models.write_text("models:\n  coder: {provider: mock, upstream_model: mock, context_window: 200000}\n")
    reminder = {"type": "text", "text": "<system-reminder>" + "context " * 11000 + "</system-reminder>"}
    request = {
        **CLAUDE_CODE_LIKE,
        "model": "coder",
        "thinking": {"type": "adaptive"},
        "output_config": {"effort": "high"},
        "messages": [
            {"role": "user", "content": [reminder, {"type": "text", "text": '[[tool:Read {"file_path": "/a.py"}]]'}]},
            {"role": "system", "content": "late note"},
        ],
    }
    headers = {**ANTHROPIC, "Accept": "application/json", "anthropic-beta": "claude-code-20250219,interleaved-thinking"}
    async with proxy_client(models_file=str(models)) as client:
        response = await post(client, request, headers)
        counted = await client.post("/v1/messages/count_tokens?beta=true", json=request, headers=headers)
        small = await post(client, {**request, "model": "mock"}, headers)  # the built-in mock: a 32k window
    assert (small.status_code, small.json()["error"]["type"]) == (400, "invalid_request_error")
    assert "maximum context length is 32768 tokens" in small.json()["error"]["message"]
    assert response.status_code == 200, response.text
    found = events(response.text)
    call = next(e for e in found if e["type"] == "content_block_start")["content_block"]
    assert (call["type"], call["name"]) == ("tool_use", "Read")
    assert found[-2]["delta"]["stop_reason"] == "tool_use"
    assert counted.json()["input_tokens"] > 20000


async def test_cached_tokens_add_up_in_the_session_ledger_whatever_the_door(proxy_client, upstream):
    upstream.play(Reply(chunks=[fixture_bytes("anthropic_tools.sse")]))  # 150 prompt tokens, 30 of them cached
    session = {"X-Session-Id": "s-cache"}
    async with proxy_client(anthropic_base_url=upstream.url, anthropic_api_key="k") as client:
        await post(client, body("go", model="anthropic/claude-up"), {**ANTHROPIC, **session})
        await client.post(
            "/v1/chat/completions",
            json={"model": "anthropic/claude-up", "messages": [{"role": "user", "content": "go"}]},
            headers=session,
        )
        totals = (await client.get("/v1/llm/usage/s-cache")).json()
    assert (totals["requests"], totals["prompt_tokens"], totals["cached_tokens"]) == (2, 300, 60)


async def test_adaptive_thinking_keeps_its_effort_on_every_provider(proxy_client, upstream, tmp_path):
    request = {
        **body("go"),
        "thinking": {"type": "adaptive"},
        "output_config": {"effort": "low"},
    }
    models = tmp_path / "models.yaml"
    models.write_text(
        "models:\n"
        "  claude: {provider: anthropic, upstream_model: claude-up, context_window: 200000}\n"
        "  thinker: {provider: openai, upstream_model: o-up, context_window: 200000, reasoning: true}\n"
    )
    settings = {
        "models_file": str(models),
        "anthropic_base_url": upstream.url,
        "anthropic_api_key": "k",
        "openai_base_url": upstream.url + "/v1",
    }
    async with proxy_client(**settings) as client:
        upstream.play(Reply(chunks=[fixture_bytes("anthropic_tools.sse")]))
        await post(client, {**request, "model": "claude"})
        upstream.play(Reply(chunks=[fixture_bytes("openai_tools.sse")]))
        await post(client, {**request, "model": "thinker"})
    to_anthropic, to_openai = upstream.requests
    assert (to_anthropic["thinking"], to_anthropic["output_config"]) == ({"type": "adaptive"}, {"effort": "low"})
    assert to_openai["reasoning_effort"] == "low"
    assert "output_config" not in to_openai


async def test_an_ollama_upstream_gets_the_thinking_text_and_no_anthropic_only_fields(proxy_client, upstream):
    reply = Reply(chunks=[fixture_bytes("ollama_tools.ndjson")], content_type="application/x-ndjson")
    sent = await sent_upstream(proxy_client, upstream, reply, "ollama/qwen", ollama_base_url=upstream.url)
    assistant = next(m for m in sent["messages"] if m["role"] == "assistant")
    assert assistant["thinking"] == "I should read it"
    assert assistant["tool_calls"][0]["function"]["arguments"] == {"file_path": "/tmp/é.py", "n": 1}
    assert "think" not in sent  # a model not marked reasoning is never asked to think
