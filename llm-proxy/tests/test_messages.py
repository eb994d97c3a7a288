"""``POST /v1/messages`` and ``/v1/messages/count_tokens``: the event sequence, blocks, errors in Anthropic's shape,
and auth (what the upstreams receive is in test_messages_upstreams.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import KEY
from tests.fakes import typed_sse_events

ANTHROPIC = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
ESCAPED = '{"path": "src/caf\\u00e9 \\"x\\".py", "note": "Grüße ✓ 🎉\\\\n"}'


events = typed_sse_events


def body(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": "mock", "max_tokens": 1000, "messages": [{"role": "user", "content": text}], **extra}


async def post(client: Any, payload: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    return await client.post("/v1/messages?beta=true", json=payload, headers=headers or ANTHROPIC)


async def test_streamed_text_has_the_api_event_sequence(proxy_client):
    async with proxy_client() as client:
        response = await post(client, body("hello brave world", stream=True))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    found = events(response.text)
    assert [e["type"] for e in found] == [
        "message_start",
        "ping",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start = found[0]["message"]
    assert (start["role"], start["content"], start["stop_reason"], start["model"]) == ("assistant", [], None, "mock")
    assert start["id"].startswith("msg_")
    assert found[2] == {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    assert "".join(e["delta"]["text"] for e in found[3:6]) == "hello brave world"
    assert found[7]["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert found[7]["usage"]["output_tokens"] > 0


async def test_the_whole_message_is_the_stream_folded(proxy_client):
    async with proxy_client() as client:
        response = await post(
            client, body("[[think:first this]] [[text:I will look]] [[tool:read_file " + ESCAPED + "]]")
        )
    message = response.json()
    assert message["type"] == "message"
    assert message["stop_reason"] == "tool_use"
    thinking, text, call = message["content"]
    assert (thinking["type"], thinking["thinking"]) == ("thinking", "first this")
    assert thinking["signature"].startswith("mocksig-")
    assert text == {"type": "text", "text": "I will look"}
    assert (call["type"], call["name"]) == ("tool_use", "read_file")
    assert call["input"] == json.loads(ESCAPED)
    assert set(message["usage"]) == {
        "input_tokens",
        "output_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
    }


async def test_parallel_tool_calls_stream_as_blocks_with_byte_exact_arguments(proxy_client):
    second = '{"q": "\\\\d+ «ü»", "n": [1, 2.5e3, null]}'
    async with proxy_client() as client:
        response = await post(client, body(f"[[tool:read_file {ESCAPED}]] [[tool:search {second}]]", stream=True))
    found = events(response.text)
    starts = [e for e in found if e["type"] == "content_block_start"]
    assert [(e["index"], e["content_block"]["type"], e["content_block"]["name"]) for e in starts] == [
        (0, "tool_use", "read_file"),
        (1, "tool_use", "search"),
    ]
    for index, expected in ((0, ESCAPED), (1, second)):
        pieces = [
            e["delta"]["partial_json"] for e in found if e["type"] == "content_block_delta" and e["index"] == index
        ]
        assert len(pieces) > 1
        assert "".join(pieces) == expected
    kinds = [e["type"] for e in found]
    assert kinds.index("content_block_stop") < kinds.index("content_block_start", 3)  # one block at a time
    assert found[-2]["delta"]["stop_reason"] == "tool_use"


async def test_thinking_streams_with_its_signature_before_the_text(proxy_client):
    async with proxy_client() as client:
        response = await post(client, body("[[think:weigh it]] answer", stream=True))
    found = events(response.text)
    deltas = [e["delta"] for e in found if e["type"] == "content_block_delta"]
    assert [d["type"] for d in deltas] == ["thinking_delta", "thinking_delta", "signature_delta", "text_delta"]
    assert found[2]["content_block"] == {"type": "thinking", "thinking": ""}
    stops = [e["index"] for e in found if e["type"] == "content_block_stop"]
    assert stops == [0, 1]


async def test_tool_result_round_trip_reaches_the_next_round(proxy_client):
    history = [
        {"role": "user", "content": "[[tool:ls {}]] [[2:text:listed]]"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "ls", "input": {}}]},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "a b"}]}
            ],
        },
    ]
    async with proxy_client() as client:
        response = await post(client, {"model": "mock", "max_tokens": 100, "messages": history})
    message = response.json()
    assert message["content"] == [{"type": "text", "text": "listed"}]
    assert message["stop_reason"] == "end_turn"


async def test_count_tokens_answers_the_estimate(proxy_client):
    request = {"model": "mock", "messages": [{"role": "user", "content": "x" * 400}], "system": "be brief"}
    async with proxy_client() as client:
        response = await client.post("/v1/messages/count_tokens?beta=true", json=request, headers=ANTHROPIC)
        bigger = await client.post(
            "/v1/messages/count_tokens",
            json={**request, "messages": [{"role": "user", "content": "x" * 4000}]},
            headers=ANTHROPIC,
        )
    assert response.status_code == 200
    assert 100 <= response.json()["input_tokens"] < bigger.json()["input_tokens"]


@pytest.mark.parametrize(
    ("payload", "status", "kind", "words"),
    [
        ({"model": "mock", "messages": [{"role": "user", "content": "x"}]}, 400, "invalid_request_error", "max_tokens"),
        (body("x", model="nope"), 404, "not_found_error", "nope"),
        (
            body("x", tools=[{"type": "web_search_20250305", "name": "web_search"}]),
            400,
            "invalid_request_error",
            "web_search",
        ),
        (
            {"model": "mock", "max_tokens": 9, "messages": [{"role": "user", "content": [{"type": "document"}]}]},
            400,
            "invalid_request_error",
            "document",
        ),
        (
            body("x", mcp_servers=[{"type": "url", "url": "https://mcp.example", "name": "m"}]),
            400,
            "invalid_request_error",
            "mcp_servers",
        ),
        (body("[[fault:429]] x"), 429, "rate_limit_error", "429"),
        (body("[[fault:503]] x"), 503, "overloaded_error", "503"),
        (body("[[fault:500]] x"), 502, "api_error", "500"),
    ],
)
async def test_errors_use_anthropics_shape_and_status(proxy_client, payload, status, kind, words):
    async with proxy_client(max_retries=0) as client:
        response = await post(client, payload)
    assert response.status_code == status
    error = response.json()
    assert error["type"] == "error"
    assert error["error"]["type"] == kind
    assert words in error["error"]["message"]


async def test_a_failure_after_the_first_byte_is_an_error_event(proxy_client):
    async with proxy_client() as client:
        response = await post(client, body("[[fault:midstream]] one two three four", stream=True))
    found = events(response.text)
    assert found[0]["type"] == "message_start"
    assert found[-1] == {
        "type": "error",
        "error": {"type": "api_error", "message": found[-1]["error"]["message"]},
    }
    assert "message_stop" not in [e["type"] for e in found]


async def test_both_auth_headers_are_accepted_and_a_wrong_key_is_refused(proxy_client):
    async with proxy_client() as client:
        del client.headers["Authorization"]  # the fixture's default
        bearer = await post(client, body("x"), {"Authorization": f"Bearer {KEY}", "anthropic-beta": "a,b"})
        api_key = await post(client, body("x"), {"x-api-key": KEY})
        wrong = await post(client, body("x"), {"x-api-key": "nope"})
    assert bearer.status_code == 200
    assert api_key.status_code == 200
    assert wrong.status_code == 401
    assert wrong.json() == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "missing or invalid API key"},
    }


async def test_usage_lands_in_the_same_session_ledger_as_chat(proxy_client):
    headers = {**ANTHROPIC, "X-Session-Id": "s-messages"}
    async with proxy_client() as client:
        await post(client, body("[[usage:40 7]] hi"), headers)
        await client.post(
            "/v1/chat/completions",
            json={"model": "mock", "messages": [{"role": "user", "content": "[[usage:10 3]] hi"}]},
            headers={"Authorization": f"Bearer {KEY}", "X-Session-Id": "s-messages"},
        )
        totals = (await client.get("/v1/llm/usage/s-messages", headers=ANTHROPIC)).json()
    assert (totals["requests"], totals["prompt_tokens"], totals["completion_tokens"]) == (2, 50, 10)


# -- translation into the neutral request, checked on the wire of each upstream --------------------------------
