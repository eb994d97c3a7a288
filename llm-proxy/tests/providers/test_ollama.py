"""The ollama provider: native /api/chat NDJSON with tools, and num_ctx from the model table."""

from __future__ import annotations

from typing import Any

import orjson

from tests.fakes import Reply, chat, fixture_bytes, split_every, sse_events


def qwen(**extra: Any) -> dict[str, Any]:
    return {**chat("hi", **extra), "model": "ollama/qwen"}


async def test_num_ctx_comes_from_the_model_table(proxy_client, upstream):
    upstream.play(Reply(chunks=[fixture_bytes("ollama_tools.ndjson")], content_type="application/x-ndjson"))
    async with proxy_client(ollama_base_url=upstream.url, default_context_window=16384) as client:
        await client.post("/v1/chat/completions", json=qwen(temperature=0.2, max_tokens=99))
    sent = upstream.requests[0]
    assert upstream.paths == ["/api/chat"]
    assert sent["model"] == "qwen"
    assert sent["options"] == {"num_ctx": 16384, "temperature": 0.2, "num_predict": 99}
    assert sent["stream"] is True


async def test_ndjson_split_anywhere_gives_text_tool_calls_and_usage(proxy_client, upstream):
    upstream.play(
        Reply(chunks=split_every(fixture_bytes("ollama_tools.ndjson"), (5, 1, 9)), content_type="application/x-ndjson")
    )
    async with proxy_client(ollama_base_url=upstream.url) as client:
        response = await client.post("/v1/chat/completions", json=qwen())
    body = response.json()
    message = body["choices"][0]["message"]
    assert message["content"] == "Grüße 🎉"
    assert [c["function"]["name"] for c in message["tool_calls"]] == ["read_file", "ls"]
    assert orjson.loads(message["tool_calls"][0]["function"]["arguments"]) == {"path": "café.py", "lines": [1, 2]}
    assert message["tool_calls"][1]["function"]["arguments"] == "{}"
    assert len({c["id"] for c in message["tool_calls"]}) == 2
    assert body["choices"][0]["finish_reason"] == "tool_calls"
    assert body["usage"]["prompt_tokens"] == 31
    assert body["usage"]["completion_tokens"] == 12


async def test_tool_history_is_sent_with_object_arguments_and_tool_names(proxy_client, upstream):
    upstream.play(Reply(chunks=[fixture_bytes("ollama_tools.ndjson")], content_type="application/x-ndjson"))
    call = {"id": "c1", "type": "function", "function": {"name": "read_file", "arguments": '{"path": "a"}'}}
    messages = [
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "data"},
    ]
    async with proxy_client(ollama_base_url=upstream.url) as client:
        await client.post("/v1/chat/completions", json={"model": "ollama/qwen", "messages": messages})
    sent = upstream.requests[0]["messages"]
    assert sent[1]["tool_calls"] == [{"function": {"name": "read_file", "arguments": {"path": "a"}}}]
    assert sent[2] == {"role": "tool", "content": "data", "tool_name": "read_file"}


async def test_an_error_line_mid_stream_ends_with_an_error_event(proxy_client, upstream):
    lines = fixture_bytes("ollama_tools.ndjson").split(b"\n")
    upstream.play(
        Reply(chunks=[lines[0] + b"\n", b'{"error": "model crashed"}\n'], content_type="application/x-ndjson")
    )
    async with proxy_client(ollama_base_url=upstream.url) as client:
        response = await client.post("/v1/chat/completions", json=qwen(stream=True))
    events = sse_events(response.text)
    assert orjson.loads(events[-1])["error"]["code"] == "upstream_error"


async def test_an_unknown_ollama_model_is_a_404(proxy_client, upstream):
    upstream.play(
        Reply(status=404, chunks=[b'{"error": "model \\"qwen\\" not found"}'], content_type="application/json")
    )
    async with proxy_client(ollama_base_url=upstream.url) as client:
        response = await client.post("/v1/chat/completions", json=qwen())
    assert response.status_code == 404
