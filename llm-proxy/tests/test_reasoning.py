"""The neutral model's reasoning extension: signed and redacted reasoning blocks, thinking budgets and efforts, and
the prompt-cache fields, from each provider's wire format into the neutral deltas and back out on the next turn."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from llm_proxy.catalog import ModelEntry
from llm_proxy.providers import anthropic_wire, ollama, openai
from llm_proxy.providers.base import ReasoningDelta, ReasoningSignature, RedactedReasoning
from llm_proxy.reasoning import ReasoningFold, effort_for_budget, requested_budget, requested_effort
from llm_proxy.schemas import ChatCompletionRequest
from tests.fakes import Reply, chat, split_every, sse_events

# A signature as Anthropic sends it: base64 with '+', '/' and '=' that must survive byte for byte.
SIGNATURE = "EqQBCkgIARABGAIiQL+/w8Zx==/é\\u00e9"
REDACTED = "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpPkNRj2YfWXGmKDxH4mPnZ5sQ7vB5URj=="
CLAUDE = ModelEntry("claude", "anthropic", "claude-up", 200000, 8000, reasoning=True)
GPT = ModelEntry("o4", "openai", "o4-mini", 200000, reasoning=True)
LLAMA = ModelEntry("llama", "ollama", "llama", 8192)
QWEN3 = ModelEntry("qwen3", "ollama", "qwen3", 8192, reasoning=True)


def event(data: dict[str, Any]) -> bytes:
    return f"event: {data['type']}\n".encode() + b"data: " + orjson.dumps(data) + b"\n\n"


def anthropic_thinking_stream() -> bytes:
    """Two thinking blocks (each signed), a redacted block, then text: what interleaved thinking looks like."""
    events = [
        {"type": "message_start", "message": {"usage": {"input_tokens": 10, "output_tokens": 1}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Let me "}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "think — ✓"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": SIGNATURE}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "redacted_thinking", "data": REDACTED}},
        {"type": "content_block_stop", "index": 1},
        {"type": "content_block_start", "index": 2, "content_block": {"type": "thinking", "thinking": ""}},
        {"type": "content_block_delta", "index": 2, "delta": {"type": "thinking_delta", "thinking": "again"}},
        {"type": "content_block_delta", "index": 2, "delta": {"type": "signature_delta", "signature": "sig2"}},
        {"type": "content_block_stop", "index": 2},
        {"type": "content_block_start", "index": 3, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 3, "delta": {"type": "text_delta", "text": "Answer"}},
        {"type": "content_block_stop", "index": 3},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 9}},
        {"type": "message_stop"},
    ]
    return b"".join(event(e) for e in events)


EXPECTED_BLOCKS = [
    {"type": "thinking", "thinking": "Let me think — ✓", "signature": SIGNATURE},
    {"type": "redacted_thinking", "data": REDACTED},
    {"type": "thinking", "thinking": "again", "signature": "sig2"},
]


def anthropic_settings(upstream: Any) -> dict[str, Any]:
    return {"anthropic_base_url": upstream.url, "anthropic_api_key": "sk-ant-x"}


def neutral(**body: Any) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate({"model": "m", **body})


def history_with_reasoning(**assistant: Any) -> list[dict[str, Any]]:
    call = {"id": "c1", "type": "function", "function": {"name": "ls", "arguments": '{"p":"/"}'}}
    return [
        {"role": "user", "content": "list"},
        {"role": "assistant", "content": None, "tool_calls": [call], **assistant},
        {"role": "tool", "tool_call_id": "c1", "content": "a b"},
    ]


async def test_anthropic_thinking_blocks_reach_a_chat_client_signed_and_in_order(proxy_client, upstream):
    upstream.play(Reply(chunks=split_every(anthropic_thinking_stream(), (13, 2, 29))))
    async with proxy_client(**anthropic_settings(upstream)) as client:
        whole = await client.post("/v1/chat/completions", json={**chat("hi"), "model": "anthropic/claude-up"})
        streamed = await client.post(
            "/v1/chat/completions", json={**chat("hi"), "model": "anthropic/claude-up", "stream": True}
        )
    message = whole.json()["choices"][0]["message"]
    assert message["thinking_blocks"] == EXPECTED_BLOCKS
    assert message["reasoning_content"] == "Let me think — ✓again"
    assert message["content"] == "Answer"
    deltas = [orjson.loads(e)["choices"][0]["delta"] for e in sse_events(streamed.text)[:-1] if b'"delta"' in e]
    signed = [d["thinking_blocks"][0] for d in deltas if "thinking_blocks" in d]
    assert signed == [
        {"type": "thinking", "thinking": "", "signature": SIGNATURE},
        {"type": "redacted_thinking", "data": REDACTED},
        {"type": "thinking", "thinking": "", "signature": "sig2"},
    ]


def test_signed_blocks_go_back_to_anthropic_first_in_their_turn_byte_for_byte():
    request = neutral(
        messages=history_with_reasoning(thinking_blocks=EXPECTED_BLOCKS),
        thinking={"type": "enabled", "budget_tokens": 2000},
    )
    raw = anthropic_wire.request_body(request, CLAUDE)
    sent = orjson.loads(raw)
    blocks = sent["messages"][1]["content"]
    assert blocks[:3] == EXPECTED_BLOCKS
    assert blocks[3]["type"] == "tool_use"
    assert orjson.dumps(SIGNATURE) in raw  # the very bytes, no re-encoding
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 2000}


def test_unsigned_reasoning_from_another_provider_is_not_sent_to_anthropic():
    request = neutral(messages=history_with_reasoning(reasoning_content="I thought, unsigned"))
    sent = orjson.loads(anthropic_wire.request_body(request, CLAUDE))
    assert [b["type"] for b in sent["messages"][1]["content"]] == ["tool_use"]


def test_an_effort_becomes_a_budget_below_max_tokens_and_drops_temperature():
    sent = orjson.loads(
        anthropic_wire.request_body(
            neutral(
                messages=[{"role": "user", "content": "x"}], reasoning_effort="high", max_tokens=5000, temperature=0.3
            ),
            CLAUDE,
        )
    )
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 4999}
    assert "temperature" not in sent
    tight = neutral(messages=[{"role": "user", "content": "x"}], reasoning_effort="low", max_tokens=600)
    assert "thinking" not in orjson.loads(anthropic_wire.request_body(tight, CLAUDE))


def test_an_effort_gives_way_to_a_forced_tool_which_anthropic_cannot_combine_with_thinking():
    tools = [{"type": "function", "function": {"name": "ls"}}]
    forced = neutral(
        messages=[{"role": "user", "content": "x"}], reasoning_effort="high", tools=tools, tool_choice="required"
    )
    sent = orjson.loads(anthropic_wire.request_body(forced, CLAUDE))
    assert sent["tool_choice"] == {"type": "any"}
    assert "thinking" not in sent
    free = neutral(messages=[{"role": "user", "content": "x"}], reasoning_effort="high", tools=tools)
    assert "thinking" in orjson.loads(anthropic_wire.request_body(free, CLAUDE))


def test_a_model_that_does_not_reason_gets_no_thinking_from_an_effort():
    plain = ModelEntry("haiku", "anthropic", "haiku", 200000)
    sent = orjson.loads(
        anthropic_wire.request_body(
            neutral(messages=[{"role": "user", "content": "x"}], reasoning_effort="high"), plain
        )
    )
    assert "thinking" not in sent


def test_openai_upstreams_never_see_the_neutral_extensions():
    request = neutral(
        messages=[
            {"role": "system", "content": [{"type": "text", "text": "s", "cache_control": {"type": "ephemeral"}}]},
            *history_with_reasoning(thinking_blocks=EXPECTED_BLOCKS, reasoning_content="kept"),
        ],
        tools=[{"type": "function", "function": {"name": "ls"}, "cache_control": {"type": "ephemeral"}}],
        thinking={"type": "enabled", "budget_tokens": 10000},
    )
    request.messages[3].is_error = True
    raw = openai.request_body(request, GPT)
    for word in (b"thinking", b"cache_control", b"signature", b"is_error", b"redacted"):
        assert word not in raw
    sent = orjson.loads(raw)
    assert sent["reasoning_effort"] == "high"
    assert sent["messages"][2]["reasoning_content"] == "kept"  # as the client sent it (DeepSeek, vLLM)
    plain = orjson.loads(openai.request_body(request, ModelEntry("g", "openai", "gpt-4o", 128000)))
    assert "reasoning_effort" not in plain


def test_ollama_gets_the_reasoning_as_thinking_and_think_only_on_a_reasoning_model():
    request = neutral(messages=history_with_reasoning(thinking_blocks=EXPECTED_BLOCKS), reasoning_effort="low")
    sent = orjson.loads(ollama.request_body(request, QWEN3))
    assert sent["messages"][1]["thinking"] == "Let me think — ✓again"
    assert sent["think"] is True
    assert "think" not in orjson.loads(ollama.request_body(request, LLAMA))


def test_efforts_and_budgets_map_onto_each_other():
    assert [effort_for_budget(b) for b in (1024, 2000, 8192, 8193, 31999)] == [
        "minimal",
        "low",
        "medium",
        "high",
        "high",
    ]
    assert (
        requested_effort(
            neutral(messages=[{"role": "user", "content": "x"}], thinking={"type": "enabled", "budget_tokens": 31999})
        )
        == "high"
    )
    assert requested_effort(neutral(messages=[{"role": "user", "content": "x"}], thinking={"type": "disabled"})) is None
    assert requested_budget(neutral(messages=[{"role": "user", "content": "x"}], reasoning_effort="medium")) == 8192
    assert requested_budget(neutral(messages=[{"role": "user", "content": "x"}], reasoning_effort="none")) is None


def test_the_fold_groups_reasoning_into_blocks_closed_by_their_signature():
    fold = ReasoningFold()
    for delta in (
        ReasoningDelta("a"),
        ReasoningDelta("b"),
        ReasoningSignature("s1"),
        RedactedReasoning("r"),
        ReasoningDelta("c"),
    ):
        fold.add(delta)
    assert fold.blocks() == [
        {"type": "thinking", "thinking": "ab", "signature": "s1"},
        {"type": "redacted_thinking", "data": "r"},
        {"type": "thinking", "thinking": "c"},
    ]
    assert fold.text() == "abc"
    unsigned = ReasoningFold()
    unsigned.add(ReasoningDelta("x"))
    assert not unsigned.signed


async def test_openai_compatible_reasoning_fields_and_cached_tokens_are_read(proxy_client, upstream):
    body = {
        "choices": [
            {"message": {"role": "assistant", "content": "hi", "reasoning_content": "mull"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 50, "completion_tokens": 2, "prompt_tokens_details": {"cached_tokens": 40}},
    }
    upstream.play(Reply(chunks=[orjson.dumps(body)], content_type="application/json"))
    async with proxy_client(openai_base_url=upstream.url + "/v1") as client:
        response = await client.post("/v1/chat/completions", json={**chat("hi"), "model": "openai/x"})
    answer = response.json()
    assert answer["choices"][0]["message"]["reasoning_content"] == "mull"
    assert answer["usage"]["prompt_tokens_details"] == {"cached_tokens": 40}


async def test_the_mock_thinks_with_a_signature_on_directive(proxy_client):
    async with proxy_client() as client:
        response = await client.post("/v1/chat/completions", json=chat("[[think:step one, step two]] hi"))
    message = response.json()["choices"][0]["message"]
    assert message["content"] == "hi"
    [block] = message["thinking_blocks"]
    assert block["thinking"] == "step one, step two"
    assert block["signature"].startswith("mocksig-")


@pytest.mark.parametrize("budget", [0, -5])
def test_a_thinking_budget_must_be_positive(budget):
    with pytest.raises(ValueError):
        neutral(messages=[{"role": "user", "content": "x"}], thinking={"type": "enabled", "budget_tokens": budget})


async def test_a_chat_clients_cache_control_is_never_a_400_and_never_reaches_openai(proxy_client, upstream):
    answer = b'data: {"choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":"stop"}]}\n\n'
    upstream.play(Reply(chunks=[answer]))
    part = {"type": "text", "text": "hi", "cache_control": {"type": "something-new", "ttl": "5m"}}
    request = {
        "model": "openai/x",
        "messages": [{"role": "user", "content": [part]}],
        "tools": [{"type": "function", "function": {"name": "f"}, "cache_control": {"type": "ephemeral"}}],
    }
    async with proxy_client(openai_base_url=upstream.url + "/v1") as client:
        response = await client.post("/v1/chat/completions", json=request)
    assert response.status_code == 200
    assert b"cache_control" not in orjson.dumps(upstream.requests[0])
