"""The official ``openai`` SDK against the proxy running as a real uvicorn process on a free port."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import openai
import pytest

from tests.conftest import KEY
from tests.fakes import FakeUpstream, Reply, fixture_bytes, split_every

TOOLS = [
    {
        "type": "function",
        "function": {"name": "read_file", "parameters": {"type": "object", "properties": {"path": {"type": "string"}}}},
    }
]


@pytest.fixture
async def sdk(proxy_url: str) -> AsyncIterator[openai.AsyncOpenAI]:
    client = openai.AsyncOpenAI(api_key=KEY, base_url=proxy_url, max_retries=0)
    yield client
    await client.close()


async def test_the_sdk_lists_the_models(sdk):
    models = [model.id async for model in sdk.models.list()]
    assert "mock" in models
    assert (await sdk.models.retrieve("mock-stable")).owned_by == "mock"
    with pytest.raises(openai.NotFoundError):
        await sdk.models.retrieve("gpt-404")


async def test_non_streaming_completion_with_tool_calls(sdk):
    completion = await sdk.chat.completions.create(
        model="mock",
        messages=[
            {"role": "user", "content": 'go [[tool:read_file {"path": "é.py"}]] [[tool:read_file {"path": "b"}]]'}
        ],
        tools=TOOLS,
    )
    message = completion.choices[0].message
    assert completion.choices[0].finish_reason == "tool_calls"
    assert [json.loads(c.function.arguments) for c in message.tool_calls] == [{"path": "é.py"}, {"path": "b"}]
    assert completion.usage is not None


async def test_streaming_with_tools_accumulates_like_openai(sdk):
    stream = await sdk.chat.completions.create(
        model="mock",
        messages=[{"role": "user", "content": 'x [[text:Let me read]] [[tool:read_file {"path": "a\\"b"}]]'}],
        tools=TOOLS,
        stream=True,
        stream_options={"include_usage": True},
    )
    text, arguments, finish, usage = "", "", None, None
    async for chunk in stream:
        usage = chunk.usage or usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
            for call in choice.delta.tool_calls or ():
                arguments += call.function.arguments or ""
            finish = choice.finish_reason or finish
    assert text == "Let me read"
    assert json.loads(arguments) == {"path": 'a"b'}
    assert finish == "tool_calls"
    assert usage is not None


async def test_the_sdk_sees_a_rate_limit_error_with_the_real_status(sdk):
    with pytest.raises(openai.RateLimitError):
        await sdk.chat.completions.create(model="mock", messages=[{"role": "user", "content": "[[fault:429]]"}])


async def test_a_mid_stream_failure_raises_in_the_sdk_instead_of_ending_quietly(sdk):
    stream = await sdk.chat.completions.create(
        model="mock", messages=[{"role": "user", "content": "a b c d [[fault:midstream]]"}], stream=True
    )
    with pytest.raises(openai.APIError):
        async for _ in stream:
            pass


async def test_heartbeats_while_the_model_thinks_are_invisible_to_the_sdk(sdk):
    stream = await sdk.chat.completions.create(
        model="mock", messages=[{"role": "user", "content": "slow thought [[ttft_ms:400]]"}], stream=True
    )
    text = "".join([choice.delta.content or "" async for chunk in stream for choice in chunk.choices])
    assert text == "slow thought"


async def test_a_failure_after_heartbeats_raises_in_the_sdk(sdk):
    stream = await sdk.chat.completions.create(
        model="mock", messages=[{"role": "user", "content": "[[ttft_ms:300]] [[fault:503]]"}], stream=True
    )
    with pytest.raises(openai.APIError, match="mock fault 503"):
        async for _ in stream:
            pass


async def test_the_sdk_through_the_proxy_to_an_openai_compatible_upstream(sdk, fake_openai_port):
    upstream = FakeUpstream()
    await upstream.start(port=fake_openai_port)
    try:
        upstream.play(Reply(chunks=split_every(fixture_bytes("openai_tools.sse"))))
        stream = await sdk.chat.completions.create(
            model="openai/gpt-up", messages=[{"role": "user", "content": "hi"}], tools=TOOLS, stream=True
        )
        calls: dict[int, str] = {}
        async for chunk in stream:
            for choice in chunk.choices:
                for call in choice.delta.tool_calls or ():
                    calls[call.index] = calls.get(call.index, "") + (call.function.arguments or "")
    finally:
        await upstream.stop()
    expected = json.loads((fixture_bytes("openai_tools.expected.json")).decode())
    assert calls == {0: expected["args0"], 1: expected["args1"]}


async def test_a_client_leaving_mid_stream_closes_the_upstream_connection(proxy_url, fake_openai_port):
    upstream = FakeUpstream()
    await upstream.start(port=fake_openai_port)
    head = fixture_bytes("openai_truncated.sse")
    upstream.play(Reply(chunks=[head], hold_open=True))
    body = {"model": "openai/gpt-up", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    try:
        async with (
            httpx.AsyncClient(headers={"Authorization": f"Bearer {KEY}"}) as client,
            client.stream("POST", proxy_url + "/chat/completions", json=body) as response,
        ):
            async for line in response.aiter_lines():
                if "hello" in line:
                    break
        await asyncio.wait_for(upstream.client_left.wait(), 10)
    finally:
        await upstream.stop()
    assert upstream.client_left.is_set()
