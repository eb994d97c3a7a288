"""The openai provider against a fake OpenAI-compatible server replaying fixtures in awkward pieces."""

from __future__ import annotations

import json
import logging
from typing import Any

import orjson
import structlog

from service_kit.logs import configure_logging
from tests.fakes import FIXTURES, FakeUpstream, Reply, chat, fixture_bytes, split_every, sse_events


def openai_settings(upstream: FakeUpstream, **extra: Any) -> dict[str, Any]:
    return {"openai_base_url": upstream.url + "/v1", "openai_api_key": "sk-test-secret-key", **extra}


def gpt(content: str = "hi", **extra: Any) -> dict[str, Any]:
    return {**chat(content, **extra), "model": "openai/gpt-up"}


EXPECTED = json.loads((FIXTURES / "openai_tools.expected.json").read_text())


async def test_tool_call_arguments_survive_awkward_splits_byte_for_byte(proxy_client, upstream):
    upstream.play(Reply(chunks=split_every(fixture_bytes("openai_tools.sse"))))
    async with proxy_client(**openai_settings(upstream)) as client:
        response = await client.post("/v1/chat/completions", json=gpt())
    assert response.status_code == 200
    message = response.json()["choices"][0]["message"]
    calls = message["tool_calls"]
    assert message["content"] == "Grüße 🎉 ok"
    assert [c["id"] for c in calls] == ["call_A", "call_B"]
    assert [c["function"]["name"] for c in calls] == ["read_file", "run"]
    assert calls[0]["function"]["arguments"] == EXPECTED["args0"]
    assert calls[1]["function"]["arguments"] == EXPECTED["args1"]
    assert response.json()["choices"][0]["finish_reason"] == "tool_calls"


async def test_streamed_tool_calls_keep_indices_and_arguments(proxy_client, upstream):
    upstream.play(Reply(chunks=split_every(fixture_bytes("openai_tools.sse"), (1, 2, 3))))
    async with proxy_client(**openai_settings(upstream)) as client:
        response = await client.post("/v1/chat/completions", json=gpt(stream=True))
    events = sse_events(response.text)
    assert events[-1] == b"[DONE]"
    arguments: dict[int, str] = {}
    for event in events[:-1]:
        for choice in orjson.loads(event)["choices"]:
            for call in choice["delta"].get("tool_calls", ()):
                arguments[call["index"]] = arguments.get(call["index"], "") + call["function"]["arguments"]
    assert arguments == {0: EXPECTED["args0"], 1: EXPECTED["args1"]}


async def test_upstream_usage_reaches_the_final_usage_chunk(proxy_client, upstream):
    upstream.play(Reply(chunks=[fixture_bytes("openai_tools.sse")]))
    async with proxy_client(**openai_settings(upstream)) as client:
        body = gpt(stream=True, stream_options={"include_usage": True})
        response = await client.post("/v1/chat/completions", json=body)
    usage_chunk = orjson.loads(sse_events(response.text)[-2])
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"]["prompt_tokens"] == 42
    assert usage_chunk["usage"]["completion_tokens"] == 17
    assert usage_chunk["usage"]["prompt_tokens_details"] == {"cached_tokens": 8}


async def test_request_goes_upstream_with_its_model_key_and_usage_option(proxy_client, upstream):
    upstream.play(Reply(chunks=[fixture_bytes("openai_no_done.sse")]))
    async with proxy_client(**openai_settings(upstream)) as client:
        body = gpt(tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}], seed=7)
        await client.post("/v1/chat/completions", json=body)
    sent = upstream.requests[0]
    assert upstream.paths == ["/v1/chat/completions"]
    assert upstream.headers[0]["Authorization"] == "Bearer sk-test-secret-key"
    assert sent["model"] == "gpt-up"
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}
    assert sent["seed"] == 7
    assert sent["tools"][0]["function"]["name"] == "f"


async def test_a_finished_stream_without_done_is_complete(proxy_client, upstream):
    upstream.play(Reply(chunks=[fixture_bytes("openai_no_done.sse")]))
    async with proxy_client(**openai_settings(upstream)) as client:
        response = await client.post("/v1/chat/completions", json=gpt(stream=True))
    assert sse_events(response.text)[-1] == b"[DONE]"
    assert b"hello" in response.content


async def test_a_stream_cut_before_finishing_ends_with_an_error_event(proxy_client, upstream):
    upstream.play(Reply(chunks=[fixture_bytes("openai_truncated.sse")]))
    async with proxy_client(**openai_settings(upstream)) as client:
        response = await client.post("/v1/chat/completions", json=gpt(stream=True))
    events = sse_events(response.text)
    assert b"[DONE]" not in events
    assert orjson.loads(events[-1])["error"]["code"] == "upstream_stream_truncated"
    assert all(b'finish_reason":"stop' not in e for e in events)


async def test_a_malformed_chunk_mid_stream_ends_with_an_error_event(proxy_client, upstream):
    upstream.play(Reply(chunks=[fixture_bytes("openai_malformed_midstream.sse")]))
    async with proxy_client(**openai_settings(upstream)) as client:
        response = await client.post("/v1/chat/completions", json=gpt(stream=True))
    events = sse_events(response.text)
    assert orjson.loads(events[-1])["error"]["code"] == "upstream_malformed_response"
    assert b"[DONE]" not in events


async def test_a_malformed_first_chunk_is_retried_before_the_first_byte(proxy_client, upstream):
    upstream.play(
        Reply(chunks=[fixture_bytes("openai_malformed_first.sse")]), Reply(chunks=[fixture_bytes("openai_no_done.sse")])
    )
    async with proxy_client(**openai_settings(upstream)) as client:
        response = await client.post("/v1/chat/completions", json=gpt())
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "hello"
    assert len(upstream.requests) == 2


async def test_a_429_is_retried_after_its_retry_after(proxy_client, upstream):
    upstream.play(Reply(status=429, headers={"Retry-After": "0"}), Reply(chunks=[fixture_bytes("openai_no_done.sse")]))
    async with proxy_client(**openai_settings(upstream)) as client:
        response = await client.post("/v1/chat/completions", json=gpt())
    assert response.status_code == 200
    assert len(upstream.requests) == 2


async def test_persistent_429_reaches_the_client_with_retry_after(proxy_client, upstream):
    upstream.play(Reply(status=429, headers={"Retry-After": "0"}))
    async with proxy_client(**openai_settings(upstream, max_retries=2)) as client:
        response = await client.post("/v1/chat/completions", json=gpt())
    assert response.status_code == 429
    assert response.json()["error"]["type"] == "rate_limit_error"
    assert response.headers["Retry-After"] == "1"
    assert len(upstream.requests) == 3


async def test_upstream_500_and_503_keep_their_meaning(proxy_client, upstream):
    for status, expected in ((500, 502), (503, 503)):
        upstream.requests.clear()
        upstream.play(Reply(status=status))
        async with proxy_client(**openai_settings(upstream, max_retries=1)) as client:
            response = await client.post("/v1/chat/completions", json=gpt())
        assert response.status_code == expected
        assert len(upstream.requests) == 2


async def test_an_upstream_key_error_is_not_reported_as_the_clients_auth_failure(proxy_client, upstream):
    upstream.play(Reply(status=401))
    async with proxy_client(**openai_settings(upstream)) as client:
        response = await client.post("/v1/chat/completions", json=gpt())
    assert response.status_code == 502
    assert "sk-test-secret-key" not in response.text


async def test_a_stall_before_the_first_byte_times_out_with_504(proxy_client, upstream):
    upstream.play(Reply(stall_before=True))
    async with proxy_client(**openai_settings(upstream, first_byte_timeout_s=0.3)) as client:
        response = await client.post("/v1/chat/completions", json=gpt())
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "upstream_timeout"


async def test_a_stall_mid_stream_ends_with_a_timeout_event(proxy_client, upstream):
    upstream.play(Reply(chunks=split_every(fixture_bytes("openai_no_done.sse"), (100,)), stall_after=4))
    async with proxy_client(**openai_settings(upstream, inter_chunk_timeout_s=0.3)) as client:
        response = await client.post("/v1/chat/completions", json=gpt(stream=True))
    events = sse_events(response.text)
    assert orjson.loads(events[-1])["error"]["code"] == "upstream_timeout"


async def test_a_connection_reset_mid_stream_ends_with_an_error_event(proxy_client, upstream):
    upstream.play(Reply(chunks=split_every(fixture_bytes("openai_tools.sse"), (300,)), reset_after=4))
    async with proxy_client(**openai_settings(upstream)) as client:
        response = await client.post("/v1/chat/completions", json=gpt(stream=True))
    events = sse_events(response.text)
    assert orjson.loads(events[-1])["error"]["code"] == "upstream_connection_error"
    assert all(b'"finish_reason":"tool_calls"' not in e for e in events)


async def test_an_unreachable_upstream_is_a_502(proxy_client):
    async with proxy_client(openai_base_url="http://127.0.0.1:9/v1", max_retries=0) as client:
        response = await client.post("/v1/chat/completions", json=gpt())
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_connection_error"


async def test_empty_choices_and_keepalive_comments_are_skipped(proxy_client, upstream):
    empty = b'data: {"id":"x","choices":[],"model":"m"}\n\n'
    upstream.play(Reply(chunks=[empty, b": ping\n\n", fixture_bytes("openai_no_done.sse")]))
    async with proxy_client(**openai_settings(upstream)) as client:
        response = await client.post("/v1/chat/completions", json=gpt())
    assert response.json()["choices"][0]["message"]["content"] == "hello"


async def test_an_upstream_context_window_error_is_typed(proxy_client, upstream):
    error = {"error": {"message": "maximum context length is 10", "code": "context_length_exceeded", "type": "x"}}
    upstream.play(Reply(status=400, chunks=[orjson.dumps(error)], content_type="application/json"))
    async with proxy_client(**openai_settings(upstream)) as client:
        response = await client.post("/v1/chat/completions", json=gpt())
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "context_length_exceeded"
    assert len(upstream.requests) == 1


async def test_a_server_that_ignores_stream_and_answers_json_is_understood(proxy_client, upstream):
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"x": "é"}'}}
    completion = {
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "ok", "tool_calls": [call]},
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 6},
    }
    upstream.play(Reply(chunks=[orjson.dumps(completion)], content_type="application/json"))
    async with proxy_client(**openai_settings(upstream)) as client:
        response = await client.post("/v1/chat/completions", json=gpt(stream=True))
    events = sse_events(response.text)
    assert events[-1] == b"[DONE]"
    assert b'{\\"x\\": \\"\xc3\xa9\\"}' in response.content
    assert b'"finish_reason":"tool_calls"' in response.content


async def test_an_upstream_echoing_the_key_never_leaks_it(proxy_client, upstream, capsys):
    secret = "sk-test-secret-key"
    echo = orjson.dumps({"error": {"message": f"bad request for key {secret}", "code": None}})
    upstream.play(Reply(status=400, chunks=[echo], content_type="application/json"))
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    configure_logging("llm-proxy", "DEBUG", [secret])
    try:
        async with proxy_client(**openai_settings(upstream)) as client:
            response = await client.post("/v1/chat/completions", json=gpt())
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        structlog.reset_defaults()
    assert response.status_code == 400
    assert "bad request for key [REDACTED]" in response.text
    assert secret not in response.text
    assert secret not in capsys.readouterr().out


async def test_reasoning_deltas_count_as_the_first_byte_and_are_forwarded(proxy_client, upstream):
    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        body = {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return b"data: " + orjson.dumps(body) + b"\n\n"

    upstream.play(
        Reply(chunks=[chunk({"reasoning_content": "Let me think"}), chunk({"content": "42"}), chunk({}, "stop")])
    )
    async with proxy_client(**openai_settings(upstream)) as client:
        streamed = await client.post("/v1/chat/completions", json=gpt(stream=True))
        folded = await client.post("/v1/chat/completions", json=gpt())
    assert orjson.loads(sse_events(streamed.text)[1])["choices"][0]["delta"] == {"reasoning_content": "Let me think"}
    message = folded.json()["choices"][0]["message"]
    assert (message["reasoning_content"], message["content"]) == ("Let me think", "42")


async def test_a_stop_after_tool_calls_is_reported_as_tool_calls(proxy_client, upstream):
    call = {"index": 0, "id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    chunks = [{"tool_calls": [call]}, {}]
    body = b"".join(
        b"data: "
        + orjson.dumps({"choices": [{"index": 0, "delta": d, "finish_reason": "stop" if i else None}]})
        + b"\n\n"
        for i, d in enumerate(chunks)
    )
    upstream.play(Reply(chunks=[body]))
    async with proxy_client(**openai_settings(upstream)) as client:
        response = await client.post("/v1/chat/completions", json=gpt())
    assert response.json()["choices"][0]["finish_reason"] == "tool_calls"


async def test_a_reset_after_the_finish_still_ends_the_answer_properly(proxy_client, upstream):
    whole = fixture_bytes("openai_no_done.sse")
    upstream.play(Reply(chunks=[whole, b'data: {"choi'], reset_after=1))
    async with proxy_client(**openai_settings(upstream)) as client:
        response = await client.post("/v1/chat/completions", json=gpt(stream=True))
    events = sse_events(response.text)
    assert events[-1] == b"[DONE]"
    assert all(b'"error"' not in e for e in events)


async def test_the_upstream_body_keeps_extra_fields_fills_defaults_and_drops_nulls(proxy_client, upstream):
    upstream.play(Reply(chunks=[fixture_bytes("openai_no_done.sse")]))
    call = {"id": "c1", "function": {"name": "f"}}
    body = gpt(user=None, logit_bias={"50256": -100}, stream=False, stream_options=None)
    body["messages"].append({"role": "assistant", "content": None, "tool_calls": [call]})
    async with proxy_client(**openai_settings(upstream)) as client:
        await client.post("/v1/chat/completions", json=body)
    sent = upstream.requests[0]
    assert "user" not in sent
    assert sent["logit_bias"] == {"50256": -100}
    assert sent["messages"][-1] == {
        "role": "assistant",
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": ""}}],
    }
    assert (sent["model"], sent["stream"], sent["stream_options"]) == ("gpt-up", True, {"include_usage": True})
