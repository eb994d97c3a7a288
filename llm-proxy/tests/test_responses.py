"""``POST /v1/responses``: the event sequence, items, errors, the store, translation to the neutral request."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from llm_proxy.doors.response_store import ResponseStore
from llm_proxy.doors.responses_items import unseal
from llm_proxy.errors import ProxyError
from llm_proxy.schemas import ChatMessage
from tests.fakes import Reply, fixture_bytes, split_every, typed_sse_events
from tests.test_reasoning import EXPECTED_BLOCKS, anthropic_thinking_stream

TOOLS = [{"type": "function", "name": "read_file", "parameters": {"type": "object"}}]
ESCAPED = '{"path": "src/caf\\u00e9 \\"x\\".py", "note": "Grüße ✓ 🎉\\\\n"}'


events = typed_sse_events


async def stream(client: Any, **body: Any) -> list[dict[str, Any]]:
    response = await client.post("/v1/responses", json={"model": "mock", "stream": True, **body})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    found = events(response.text)
    assert [e["sequence_number"] for e in found] == list(range(len(found)))
    return found


async def test_streamed_text_has_the_api_event_sequence(proxy_client):
    async with proxy_client() as client:
        found = await stream(client, input="hello brave world", instructions="be brief")
    kinds = [e["type"] for e in found]
    assert kinds == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    created, done = found[0]["response"], found[-1]["response"]
    assert created["status"] == "in_progress"
    assert created["output"] == []
    assert created["id"] == done["id"]
    assert done["id"].startswith("resp_")
    assert "".join(e["delta"] for e in found if e["type"] == "response.output_text.delta") == "hello brave world"
    item = found[-2]["item"]
    assert item["type"] == "message"
    assert item["status"] == "completed"
    assert item["content"] == [{"type": "output_text", "text": "hello brave world", "annotations": []}]
    assert {e.get("item_id") for e in found[3:9]} == {item["id"]}
    assert done["status"] == "completed"
    assert done["output"] == [item]
    assert done["instructions"] == "be brief"
    usage = done["usage"]
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"] > 0
    assert usage["input_tokens_details"]["cached_tokens"] == 0


async def test_parallel_function_calls_keep_their_arguments_byte_for_byte(proxy_client):
    prompt = f"go [[text:Reading.]] [[tool:read_file {ESCAPED}]] [[tool:read_file {{}}]]"
    async with proxy_client() as client:
        found = await stream(client, input=prompt, tools=TOOLS, parallel_tool_calls=True)
        whole = (await client.post("/v1/responses", json={"model": "mock", "input": prompt, "tools": TOOLS})).json()
    kinds = [e["type"] for e in found]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    first_call = kinds.index("response.function_call_arguments.delta")
    assert kinds[first_call - 4 : first_call] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
    ]
    dones = [e for e in found if e["type"] == "response.function_call_arguments.done"]
    assert [d["arguments"] for d in dones] == [ESCAPED, "{}"]
    assert [d["output_index"] for d in dones] == [1, 2]
    items = [e["item"] for e in found if e["type"] == "response.output_item.done"]
    assert [i["type"] for i in items] == ["message", "function_call", "function_call"]
    assert items[1]["arguments"] == ESCAPED
    assert items[1]["name"] == "read_file"
    assert items[1]["call_id"] != items[2]["call_id"]
    assert items[1]["id"].startswith("fc_")
    # The second call opens only after the first one is done, as the API streams them.
    second_added = [i for i, e in enumerate(found) if e["type"] == "response.output_item.added"][2]
    assert found[second_added - 1]["type"] == "response.output_item.done"
    # Not streamed: the same output, folded.
    assert [(i["type"], i.get("arguments"), i.get("call_id")) for i in whole["output"]] == [
        (i["type"], i.get("arguments"), i.get("call_id")) for i in items
    ]
    assert whole["output"][0]["content"][0]["text"] == "Reading."


async def test_a_tool_result_round_trip_reaches_the_upstream_as_chat_messages(proxy_client, upstream):
    upstream.play(Reply(chunks=split_every(fixture_bytes("openai_tools.sse"))))
    body = {
        "model": "openai/gpt-up",
        "instructions": "system rules",
        "input": [
            {"type": "message", "role": "developer", "content": "dev note", "id": "c1"},
            {"role": "user", "content": [{"type": "input_text", "text": "read it"}]},
            {"type": "function_call", "id": "fc_1", "call_id": "call_a", "name": "read_file", "arguments": ESCAPED},
            {"type": "function_call", "id": "fc_2", "call_id": "call_b", "name": "read_file", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_a", "output": "contents ✓"},
            {"type": "function_call_output", "call_id": "call_b", "output": [{"type": "input_text", "text": "b"}]},
        ],
        "tools": TOOLS,
        "tool_choice": {"type": "function", "name": "read_file"},
        "max_output_tokens": 99,
        "temperature": 0.5,
        "reasoning": {"effort": "low"},
        "text": {"format": {"type": "json_schema", "name": "out", "schema": {"type": "object"}, "strict": True}},
    }
    async with proxy_client(openai_base_url=upstream.url + "/v1") as client:
        found = await stream(client, **body)
    sent = upstream.requests[0]
    assert sent["messages"] == [
        {"role": "system", "content": "system rules"},
        {"role": "system", "content": "dev note"},  # developer instructions, as every chat server knows them
        {"role": "user", "content": [{"type": "text", "text": "read it"}]},
        {
            "role": "assistant",
            "tool_calls": [
                {"id": "call_a", "type": "function", "function": {"name": "read_file", "arguments": ESCAPED}},
                {"id": "call_b", "type": "function", "function": {"name": "read_file", "arguments": "{}"}},
            ],
        },
        {"role": "tool", "content": "contents ✓", "tool_call_id": "call_a"},
        {"role": "tool", "content": "b", "tool_call_id": "call_b"},
    ]
    assert sent["tools"] == [{"type": "function", "function": {"name": "read_file", "parameters": {"type": "object"}}}]
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "read_file"}}
    assert (sent["max_completion_tokens"], sent["temperature"], sent["reasoning_effort"]) == (99, 0.5, "low")
    assert sent["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "out", "schema": {"type": "object"}, "strict": True},
    }
    expected = orjson.loads(fixture_bytes("openai_tools.expected.json"))
    calls = [e["arguments"] for e in found if e["type"] == "response.function_call_arguments.done"]
    assert calls == [expected["args0"], expected["args1"]]
    text = "".join(e["delta"] for e in found if e["type"] == "response.output_text.delta")
    assert text == "Grüße 🎉 ok"


async def test_the_mock_answers_the_next_round_after_a_tool_result(proxy_client):
    async with proxy_client() as client:
        first = (await client.post("/v1/responses", json={"model": "mock", "input": "[[tool:ls {}]]"})).json()
        call = first["output"][0]
        follow = [
            {"role": "user", "content": "[[tool:ls {}]]"},
            {k: call[k] for k in ("type", "id", "call_id", "name", "arguments")},
            {"type": "function_call_output", "call_id": call["call_id"], "output": "a b"},
        ]
        second = (await client.post("/v1/responses", json={"model": "mock", "input": follow})).json()
    assert call["type"] == "function_call"
    assert call["name"] == "ls"
    assert second["output"][0]["content"][0]["text"] == "Done."


async def test_previous_response_id_continues_the_stored_conversation(proxy_client, upstream):
    upstream.play(Reply(chunks=split_every(fixture_bytes("openai_tools.sse"))))
    async with proxy_client(openai_base_url=upstream.url + "/v1") as client:
        first = (
            await client.post("/v1/responses", json={"model": "openai/gpt-up", "input": "one", "instructions": "A"})
        ).json()
        call_id = first["output"][1]["call_id"]
        follow = {
            "model": "openai/gpt-up",
            "previous_response_id": first["id"],
            "instructions": "B",
            "input": [{"type": "function_call_output", "call_id": call_id, "output": "ok"}],
        }
        second = await client.post("/v1/responses", json=follow)
        unknown = await client.post("/v1/responses", json={**follow, "previous_response_id": "resp_nope"})
        unstored = (await client.post("/v1/responses", json={"model": "mock", "input": "x", "store": False})).json()
        not_kept = await client.post("/v1/responses", json={"input": "y", "previous_response_id": unstored["id"]})
    assert second.status_code == 200, second.text
    assert second.json()["previous_response_id"] == first["id"]
    messages = upstream.requests[1]["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool"]
    assert messages[0]["content"] == "B"  # the instructions of the new request only
    assert messages[2]["content"] == "Grüße 🎉 ok"
    assert len(messages[2]["tool_calls"]) == 2
    for refused in (unknown, not_kept):
        assert refused.status_code == 400
        assert refused.json()["error"]["code"] == "previous_response_not_found"
        assert refused.json()["error"]["param"] == "previous_response_id"
    assert unstored["store"] is False


async def test_the_store_is_per_caller_bounded_and_expires():
    now = [0.0]
    store = ResponseStore(per_caller=2, ttl=10, max_bytes=100, clock=lambda: now[0])
    message = [ChatMessage(role="user", content="x")]
    for index in range(3):
        await store.put("alice", f"r{index}", message, {}, size=10)
    with pytest.raises(ProxyError):
        await store.get("alice", "r0")  # the oldest of three was dropped
    assert (await store.get("alice", "r2")).conversation == tuple(message)
    with pytest.raises(ProxyError):
        await store.get("bob", "r2")  # another caller's id is unknown to bob
    assert store.bytes == 20
    await store.put("bob", "b1", message, {}, size=60)
    await store.put("bob", "b2", message, {}, size=30)  # 110 bytes: alice's older response goes
    assert await store.find("alice", "r1") is None
    assert await store.find("alice", "r2") is not None
    assert store.bytes == 100
    await store.put("carol", "huge", message, {}, size=101)  # larger than the whole store: not kept
    assert await store.find("carol", "huge") is None
    now[0] = 11
    with pytest.raises(ProxyError, match="expired"):
        await store.get("alice", "r2")
    assert store.bytes == 90


@pytest.mark.parametrize(
    ("body", "param", "named"),
    [
        ({"tools": [{"type": "web_search"}, {"type": "custom", "name": "apply_patch"}]}, "tools", "web_search"),
        ({"background": True}, "background", "background"),
        ({"include": ["message.output_text.logprobs"]}, "include", "logprobs"),
        ({"tool_choice": {"type": "web_search_preview"}}, "tool_choice", "web_search_preview"),
        ({"input": [{"type": "item_reference", "id": "x"}]}, "input[0]", "item_reference"),
        ({"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]}, "input[0].content[0]", ""),
        ({"text": {"format": {"type": "json_schema", "name": "x"}}}, "text.format.schema", "schema"),
        ({"temperature": 3}, "temperature", "temperature"),
    ],
)
async def test_what_the_proxy_cannot_honour_is_a_400_naming_it(proxy_client, body, param, named):
    async with proxy_client() as client:
        response = await client.post("/v1/responses", json={"model": "mock", "input": "x", **body})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param
    assert named in error["message"]


async def test_unsupported_tools_can_be_ignored_instead(proxy_client):
    tools = [{"type": "web_search"}, *TOOLS]
    choice = {"type": "web_search_preview"}
    body = {"input": "[[tool:read_file {}]]", "tools": tools, "tool_choice": choice}
    async with proxy_client(responses_unsupported_tools="ignore") as client:
        response = await client.post("/v1/responses", json=body)
    assert response.status_code == 200
    assert response.json()["output"][0]["name"] == "read_file"


async def test_an_upstream_429_before_the_first_byte_keeps_its_status(proxy_client):
    async with proxy_client(max_retries=0) as client:
        response = await client.post("/v1/responses", json={"model": "mock", "input": "[[fault:429]]", "stream": True})
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limit_exceeded"
    assert "Retry-After" in response.headers


async def test_a_failure_mid_stream_ends_with_response_failed(proxy_client):
    async with proxy_client(max_retries=0) as client:
        found = await stream(client, input="a b c d e f [[fault:midstream]]")
    assert found[-1]["type"] == "response.failed"
    assert not any(e["type"] == "response.completed" for e in found)
    failed = found[-1]["response"]
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "upstream_error"
    assert failed["output"] == []  # the message never finished


async def test_a_failure_after_heartbeats_is_an_error_event(proxy_client):
    async with proxy_client(max_retries=0, heartbeat_interval_s=0.05) as client:
        response = await client.post(
            "/v1/responses", json={"model": "mock", "input": "[[ttft_ms:300]] [[fault:503]]", "stream": True}
        )
    found = events(response.text)
    assert response.status_code == 200
    assert ": keep-alive" in response.text
    assert [e["type"] for e in found] == ["error"]
    assert found[0]["code"] == "upstream_unavailable"
    assert "mock fault 503" in found[0]["message"]


async def test_cut_by_the_output_limit_is_incomplete_with_cached_usage(proxy_client, upstream):
    chunks = [
        b'data: {"choices":[{"index":0,"delta":{"content":"part"},"finish_reason":null}]}\n\n',
        b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"length"}]}\n\n',
        b'data: {"choices":[],"usage":{"prompt_tokens":50,"completion_tokens":3,'
        b'"prompt_tokens_details":{"cached_tokens":40}}}\n\n',
        b"data: [DONE]\n\n",
    ]
    upstream.play(Reply(chunks=chunks))
    async with proxy_client(openai_base_url=upstream.url + "/v1") as client:
        found = await stream(client, model="openai/gpt-up", input="x", max_output_tokens=3)
    last = found[-1]
    assert last["type"] == "response.incomplete"
    assert last["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert last["response"]["output"][0]["status"] == "incomplete"
    usage = last["response"]["usage"]
    assert (usage["input_tokens"], usage["output_tokens"], usage["input_tokens_details"]["cached_tokens"]) == (
        50,
        3,
        40,
    )


async def test_usage_lands_in_the_same_session_ledger_as_chat(proxy_client):
    headers = {"X-Session-Id": "s-15b"}
    async with proxy_client() as client:
        await client.post("/v1/responses", json={"input": "one two [[usage:7 2]]"}, headers=headers)
        await client.post(
            "/v1/chat/completions",
            json={"messages": [{"role": "user", "content": "x [[usage:5 1]]"}]},
            headers=headers,
        )
        totals = (await client.get("/v1/llm/usage/s-15b")).json()
    assert (totals["requests"], totals["prompt_tokens"], totals["completion_tokens"]) == (2, 12, 3)


async def test_mock_thinking_is_a_reasoning_item_with_its_signature(proxy_client):
    async with proxy_client() as client:
        found = await stream(client, input="[[think:Let me see]] [[text:Hi]]")
    kinds = [e["type"] for e in found]
    assert kinds[2:10] == [
        "response.output_item.added",
        "response.content_part.added",
        "response.reasoning_text.delta",
        "response.reasoning_text.delta",
        "response.reasoning_text.delta",
        "response.reasoning_text.done",
        "response.content_part.done",
        "response.output_item.done",
    ]
    reasoning = found[9]["item"]
    assert reasoning["type"] == "reasoning"
    assert reasoning["content"] == [{"type": "reasoning_text", "text": "Let me see"}]
    sealed = unseal(reasoning["encrypted_content"])
    assert sealed is not None
    assert sealed.thinking == "Let me see"
    assert (sealed.signature or "").startswith("mocksig-")
    assert found[-1]["response"]["output"][1]["content"][0]["text"] == "Hi"


async def test_anthropic_reasoning_round_trips_byte_for_byte_through_the_responses_door(proxy_client, upstream):
    upstream.play(Reply(chunks=split_every(anthropic_thinking_stream(), (13, 2, 29))))
    settings = {"anthropic_base_url": upstream.url, "anthropic_api_key": "sk-ant-x"}
    async with proxy_client(**settings) as client:
        first = await client.post("/v1/responses", json={"model": "anthropic/claude-up", "input": "think"})
        output = first.json()["output"]
        # As the Codex CLI sends reasoning items back: without their reasoning_text content.
        sent_back = [
            {k: v for k, v in item.items() if k != "content" or item["type"] != "reasoning"} for item in output
        ]
        again = {
            "model": "anthropic/claude-up",
            "input": [{"role": "user", "content": "think"}, *sent_back, {"role": "user", "content": "go on"}],
            "store": False,
        }
        second = await client.post("/v1/responses", json=again)
    assert first.status_code == 200, first.text
    assert [i["type"] for i in output] == ["reasoning", "reasoning", "reasoning", "message"]
    sealed = [unseal(i["encrypted_content"]) for i in output[:3]]
    assert [b.model_dump(exclude_none=True) for b in sealed if b is not None] == EXPECTED_BLOCKS
    assert output[0]["content"] == [{"type": "reasoning_text", "text": "Let me think — ✓"}]
    assert second.status_code == 200, second.text
    assistant = upstream.requests[1]["messages"][1]
    assert assistant["role"] == "assistant"
    assert assistant["content"][:3] == EXPECTED_BLOCKS
    assert assistant["content"][3] == {"type": "text", "text": "Answer"}


def test_foreign_or_damaged_encrypted_reasoning_is_not_ours():
    assert unseal("gAAAAABo-openai-encrypted") is None
    assert unseal("codelab-reasoning.v1.!!!") is None
    assert unseal("codelab-reasoning.v1." + "eyJ0eXBlIjoiYm9ndXMifQ==") is None  # {"type":"bogus"}
