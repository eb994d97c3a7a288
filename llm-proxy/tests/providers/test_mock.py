"""The mock model through the API: echo, scripted tool calls, routing answers and faults."""

from __future__ import annotations

import json
from typing import Any

import orjson

from tests.fakes import chat, sse_events


def deltas_of(text: str) -> list[dict[str, Any]]:
    return [orjson.loads(e)["choices"][0]["delta"] for e in sse_events(text) if e != b"[DONE]" and b'"choices":[{' in e]


async def test_the_last_user_message_is_echoed_word_by_word(proxy_client):
    async with proxy_client() as client:
        response = await client.post("/v1/chat/completions", json=chat("hello brave new world", stream=True))
    contents = [d["content"] for d in deltas_of(response.text) if d.get("content")]
    assert contents == ["hello", " brave", " new", " world"]
    assert sse_events(response.text)[-1] == b"[DONE]"


async def test_tool_directives_give_all_tool_calls_in_one_response(proxy_client):
    text = 'do it [[text:Reading now]] [[tool:read_file {"path": "é/x.py"}]] [[tool:list_dir {"path": "."}]]'
    async with proxy_client() as client:
        response = await client.post("/v1/chat/completions", json=chat(text))
    choice = response.json()["choices"][0]
    calls = choice["message"]["tool_calls"]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "Reading now"
    assert [json.loads(c["function"]["arguments"]) for c in calls] == [{"path": "é/x.py"}, {"path": "."}]
    assert calls[0]["id"].startswith("call_1_0_")
    assert calls[1]["id"].startswith("call_1_1_")


async def test_tool_arguments_are_streamed_in_several_pieces(proxy_client):
    async with proxy_client() as client:
        response = await client.post(
            "/v1/chat/completions", json=chat('[[tool:w {"content": "line one\\nline two"}]]', stream=True)
        )
    pieces = [c["function"]["arguments"] for d in deltas_of(response.text) for c in d.get("tool_calls", ())]
    assert len([p for p in pieces if p]) > 3
    assert "".join(pieces) == '{"content": "line one\\nline two"}'


async def test_after_a_tool_result_the_next_round_answers_done(proxy_client):
    first = chat("[[tool:ls]]")
    async with proxy_client() as client:
        call = (await client.post("/v1/chat/completions", json=first)).json()["choices"][0]["message"]
        follow = {
            **first,
            "messages": [
                *first["messages"],
                call,
                {"role": "tool", "tool_call_id": call["tool_calls"][0]["id"], "content": "a.py"},
            ],
        }
        response = await client.post("/v1/chat/completions", json=follow)
    assert response.json()["choices"][0]["message"]["content"] == "Done."
    assert response.json()["choices"][0]["finish_reason"] == "stop"


async def test_route_directive_answers_json_only_in_json_mode(proxy_client):
    text = "fix the bug [[route:coder 0.87 it is a code change]]"
    async with proxy_client() as client:
        routed = await client.post("/v1/chat/completions", json=chat(text, response_format={"type": "json_object"}))
        plain = await client.post("/v1/chat/completions", json=chat(text))
        garbage = await client.post(
            "/v1/chat/completions", json=chat("fix it", response_format={"type": "json_object"})
        )
    assert json.loads(routed.json()["choices"][0]["message"]["content"]) == {
        "agent": "coder",
        "confidence": 0.87,
        "reason": "it is a code change",
    }
    assert plain.json()["choices"][0]["message"]["content"] == "fix the bug"
    assert garbage.json()["choices"][0]["message"]["content"] == "fix it"


async def test_usage_directive_sets_the_reported_counts(proxy_client):
    async with proxy_client() as client:
        response = await client.post("/v1/chat/completions", json=chat("x [[usage:123 45]]"))
    assert response.json()["usage"] == {"prompt_tokens": 123, "completion_tokens": 45, "total_tokens": 168}


async def test_fault_429_answers_429_with_retry_after(proxy_client):
    async with proxy_client(max_retries=0) as client:
        response = await client.post("/v1/chat/completions", json=chat("[[fault:429]]"))
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "1"
    assert response.json()["error"]["code"] == "rate_limit_exceeded"


async def test_fault_500_and_503_keep_their_meaning(proxy_client):
    async with proxy_client(max_retries=0) as client:
        server = await client.post("/v1/chat/completions", json=chat("[[fault:500]]"))
        unavailable = await client.post("/v1/chat/completions", json=chat("[[fault:503]]"))
    assert server.status_code == 502
    assert unavailable.status_code == 503


async def test_fault_stall_times_out_before_the_first_byte(proxy_client):
    async with proxy_client(first_byte_timeout_s=0.2) as client:
        response = await client.post("/v1/chat/completions", json=chat("[[fault:stall]]", stream=True))
    assert response.status_code == 504


async def test_mid_stream_faults_end_with_an_error_event_and_no_done(proxy_client):
    codes = {
        "midstream": "upstream_error",
        "truncate": "upstream_stream_truncated",
        "malformed": "upstream_malformed_response",
    }
    async with proxy_client() as client:
        for fault, code in codes.items():
            body = chat(f'one two three four [[fault:{fault}]] [[tool:w {{"a": "bcdefgh"}}]]', stream=True)
            response = await client.post("/v1/chat/completions", json=body)
            events = sse_events(response.text)
            assert response.status_code == 200
            assert orjson.loads(events[-1])["error"]["code"] == code
            assert b"[DONE]" not in events
            assert not any(b'"finish_reason":"tool_calls"' in e for e in events)


async def test_mid_stream_fault_without_streaming_is_an_http_error(proxy_client):
    async with proxy_client() as client:
        response = await client.post("/v1/chat/completions", json=chat("a b c d [[fault:midstream]]"))
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_error"


async def test_fault_on_a_later_round_only(proxy_client):
    first = chat("[[tool:ls]] [[2:fault:500]]")
    async with proxy_client(max_retries=0) as client:
        call = (await client.post("/v1/chat/completions", json=first)).json()["choices"][0]["message"]
        result = {"role": "tool", "tool_call_id": call["tool_calls"][0]["id"], "content": "x"}
        response = await client.post(
            "/v1/chat/completions", json={**first, "messages": [*first["messages"], call, result]}
        )
    assert response.status_code == 502
