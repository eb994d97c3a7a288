"""The official ``anthropic`` SDK against the proxy running as a real process: messages, streams, tools, thinking,
token counting and errors, on the mock and on an OpenAI-compatible upstream (an Anthropic client on an OpenAI model)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import anthropic
import pytest

from tests.conftest import KEY
from tests.fakes import FakeUpstream, Reply, fixture_bytes, split_every

TOOLS = [
    {
        "name": "read_file",
        "description": "Read a file",
        "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}},
    }
]
OPENAI_TOOLS = json.loads(fixture_bytes("openai_tools.expected.json"))


@pytest.fixture
def root_url(proxy_url: str) -> str:
    """The proxy's root: the Anthropic SDK adds ``/v1/messages`` itself."""
    return proxy_url.removesuffix("/v1")


@pytest.fixture
async def sdk(root_url: str) -> AsyncIterator[anthropic.AsyncAnthropic]:
    client = anthropic.AsyncAnthropic(api_key=KEY, base_url=root_url, max_retries=0)
    yield client
    await client.close()


async def test_a_message_with_tool_use_blocks(sdk):
    message = await sdk.messages.create(
        model="mock",
        max_tokens=1000,
        messages=[
            {"role": "user", "content": 'go [[tool:read_file {"path": "é.py"}]] [[tool:read_file {"path": "b"}]]'}
        ],
        tools=TOOLS,
    )
    assert message.stop_reason == "tool_use"
    calls = [block for block in message.content if block.type == "tool_use"]
    assert [c.input for c in calls] == [{"path": "é.py"}, {"path": "b"}]
    assert message.usage.output_tokens > 0


async def test_streaming_with_tools_and_thinking_accumulates_like_anthropic(sdk):
    async with sdk.messages.stream(
        model="mock",
        max_tokens=2000,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[
            {"role": "user", "content": 'x [[think:plan it]] [[text:Let me read]] [[tool:read_file {"path": "a\\"b"}]]'}
        ],
        tools=TOOLS,
    ) as stream:
        texts = [text async for text in stream.text_stream]
        message = await stream.get_final_message()
    assert "".join(texts) == "Let me read"
    thinking, text, call = message.content
    assert thinking.type == "thinking"
    assert thinking.thinking == "plan it"
    assert thinking.signature.startswith("mocksig-")
    assert text.type == "text"
    assert call.type == "tool_use"
    assert call.input == {"path": 'a"b'}
    assert message.stop_reason == "tool_use"


async def test_the_tool_result_round_trip_with_the_signed_thinking_sent_back(sdk):
    first = await sdk.messages.create(
        model="mock",
        max_tokens=2000,
        messages=[{"role": "user", "content": "[[think:hmm]] [[tool:read_file {}]] [[2:text:read it]]"}],
        tools=TOOLS,
    )
    call = next(block for block in first.content if block.type == "tool_use")
    second = await sdk.messages.create(
        model="mock",
        max_tokens=2000,
        messages=[
            {"role": "user", "content": "[[think:hmm]] [[tool:read_file {}]] [[2:text:read it]]"},
            {"role": "assistant", "content": first.content},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "data", "is_error": False}],
            },
        ],
        tools=TOOLS,
    )
    assert [block.type for block in second.content] == ["text"]
    assert second.content[0].text == "read it"
    assert second.stop_reason == "end_turn"


async def test_count_tokens(sdk):
    counted = await sdk.messages.count_tokens(
        model="mock", messages=[{"role": "user", "content": "hello " * 100}], tools=TOOLS
    )
    assert counted.input_tokens > 100


async def test_errors_arrive_as_the_sdks_typed_errors(sdk):
    with pytest.raises(anthropic.RateLimitError):
        await sdk.messages.create(model="mock", max_tokens=10, messages=[{"role": "user", "content": "[[fault:429]]"}])
    with pytest.raises(anthropic.NotFoundError):
        await sdk.messages.create(model="nope", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    with pytest.raises(anthropic.BadRequestError):
        await sdk.messages.create(model="mock", max_tokens=10, messages=[])


async def test_a_mid_stream_failure_raises_in_the_sdk(sdk):
    async def drain() -> None:
        async with sdk.messages.stream(
            model="mock", max_tokens=100, messages=[{"role": "user", "content": "a b c d [[fault:midstream]]"}]
        ) as stream:
            async for _ in stream:
                pass

    with pytest.raises(anthropic.APIStatusError):
        await drain()


async def test_the_bearer_token_form_is_accepted(root_url):
    client = anthropic.AsyncAnthropic(auth_token=KEY, base_url=root_url, max_retries=0)
    try:
        message = await client.messages.create(
            model="mock", max_tokens=10, messages=[{"role": "user", "content": "token"}]
        )
    finally:
        await client.close()
    assert message.content[0].text == "token"


async def test_an_anthropic_client_on_an_openai_model_gets_its_tool_calls_byte_for_byte(sdk, fake_openai_port):
    upstream = FakeUpstream()
    await upstream.start(fake_openai_port)
    upstream.play(Reply(chunks=split_every(fixture_bytes("openai_tools.sse"))))
    try:
        async with sdk.messages.stream(
            model="openai/gpt-x", max_tokens=100, messages=[{"role": "user", "content": "go"}], tools=TOOLS
        ) as stream:
            partial: dict[int, str] = {}
            async for event in stream:
                if event.type == "content_block_delta" and event.delta.type == "input_json_delta":
                    partial[event.index] = partial.get(event.index, "") + event.delta.partial_json
            message = await stream.get_final_message()
    finally:
        await upstream.stop()
    calls = [block for block in message.content if block.type == "tool_use"]
    assert len(calls) >= 2
    assert [partial[i] for i in sorted(partial)][:2] == [OPENAI_TOOLS["args0"], OPENAI_TOOLS["args1"]]
    assert message.stop_reason == "tool_use"


async def test_heartbeats_while_the_model_thinks_are_invisible_to_the_sdk(sdk):
    async with sdk.messages.stream(
        model="mock", max_tokens=100, messages=[{"role": "user", "content": "slow thought [[ttft_ms:400]]"}]
    ) as stream:
        text = "".join([piece async for piece in stream.text_stream])
    assert text == "slow thought"
