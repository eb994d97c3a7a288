"""Real clients of ``/v1/responses`` and ``/v1/embeddings`` against the proxy as a uvicorn process: the official
``openai`` SDK (``responses`` streamed and not, function calls; ``embeddings``), the OpenAI Agents SDK with its
default model (the Responses API one) and LangChain's ``ChatOpenAI`` on the Responses API and ``OpenAIEmbeddings``."""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import AsyncIterator

import httpx
import openai
import pytest
from agents import Agent, RunConfig, Runner, function_tool
from agents.models.openai_provider import OpenAIProvider
from langchain_openai import ChatOpenAI, OpenAIEmbeddings
from pydantic import BaseModel

from tests.conftest import KEY

TOOLS = [
    {
        "type": "function",
        "name": "read_file",
        "description": "Read a file",
        "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
    }
]
ARGS = '{"path": "docs/caf\\u00e9 \\"x\\".md", "why": "Grüße 🎉"}'


@pytest.fixture
async def sdk(proxy_url: str) -> AsyncIterator[openai.AsyncOpenAI]:
    client = openai.AsyncOpenAI(api_key=KEY, base_url=proxy_url, max_retries=0)
    yield client
    await client.close()


async def test_responses_create_with_function_calls(sdk):
    prompt = f"[[text:Looking.]] [[tool:read_file {ARGS}]] [[tool:read_file {{}}]]"
    response = await sdk.responses.create(model="mock", input=prompt, tools=TOOLS, instructions="help")
    assert response.status == "completed"
    assert response.output_text == "Looking."
    calls = [item for item in response.output if item.type == "function_call"]
    assert [(c.name, c.arguments) for c in calls] == [("read_file", ARGS), ("read_file", "{}")]
    assert response.usage is not None
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens

    follow = await sdk.responses.create(
        model="mock",
        previous_response_id=response.id,
        input=[{"type": "function_call_output", "call_id": c.call_id, "output": "ok"} for c in calls],
        tools=TOOLS,
    )
    assert follow.output_text == "Done."


async def test_responses_stream_events_and_final_response(sdk):
    stream = await sdk.responses.create(
        model="mock", input=f"[[text:Reading now]] [[tool:read_file {ARGS}]]", tools=TOOLS, stream=True
    )
    kinds, text, arguments, final = [], "", "", None
    async for event in stream:
        kinds.append(event.type)
        if event.type == "response.output_text.delta":
            text += event.delta
        elif event.type == "response.function_call_arguments.delta":
            arguments += event.delta
        elif event.type == "response.completed":
            final = event.response
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert text == "Reading now"
    assert arguments == ARGS
    assert final is not None
    assert final.output[1].arguments == ARGS
    assert final.usage is not None


async def test_the_stream_helper_accumulates_the_final_response(sdk):
    async with sdk.responses.stream(model="mock", input="one two three") as stream:
        async for _ in stream:
            pass
        final = await stream.get_final_response()
    assert final.output_text == "one two three"


async def test_a_mid_stream_failure_reaches_the_sdk_as_response_failed(sdk):
    stream = await sdk.responses.create(model="mock", input="a b c d e f [[fault:midstream]]", stream=True)
    kinds = [event.type async for event in stream]
    assert kinds[-1] == "response.failed"
    assert "response.completed" not in kinds


async def test_errors_keep_their_status_in_the_sdk(sdk):
    with pytest.raises(openai.RateLimitError):
        await sdk.responses.create(model="mock", input="[[fault:429]]")
    with pytest.raises(openai.BadRequestError, match="web_search"):
        await sdk.responses.create(model="mock", input="x", tools=[{"type": "web_search"}])
    with pytest.raises(openai.BadRequestError, match="not found"):
        await sdk.responses.create(model="mock", input="x", previous_response_id="resp_unknown")


@function_tool
def read_file(path: str) -> str:
    """Read a file from the project."""
    return f"contents of {path}"


def _run_config(proxy_url: str) -> RunConfig:
    client = openai.AsyncOpenAI(api_key=KEY, base_url=proxy_url, max_retries=0)
    return RunConfig(model_provider=OpenAIProvider(openai_client=client, use_responses=True), tracing_disabled=True)


async def test_the_agents_sdk_default_model_runs_a_tool_loop(proxy_url):
    agent = Agent(name="reader", instructions="Use tools.", model="mock", tools=[read_file])
    prompt = '[[tool:read_file {"path": "a.txt"}]] [[2:text:The file is read.]]'
    result = await Runner.run(agent, prompt, run_config=_run_config(proxy_url))
    assert result.final_output == "The file is read."
    outputs = [item for item in result.new_items if item.type == "tool_call_output_item"]
    assert [item.output for item in outputs] == ["contents of a.txt"]


async def test_the_agents_sdk_streams_through_the_responses_door(proxy_url):
    agent = Agent(name="reader", instructions="Use tools.", model="mock", tools=[read_file])
    prompt = '[[tool:read_file {"path": "b"}]] [[2:text:Streamed answer here]]'
    result = Runner.run_streamed(agent, prompt, run_config=_run_config(proxy_url))
    deltas = []
    async for event in result.stream_events():
        if event.type == "raw_response_event" and event.data.type == "response.output_text.delta":
            deltas.append(event.data.delta)
    assert "".join(deltas) == "Streamed answer here"
    assert result.final_output == "Streamed answer here"


async def test_embeddings_with_the_sdk_are_deterministic(sdk):
    first = await sdk.embeddings.create(model="mock", input=["alpha", "beta"])
    again = await sdk.embeddings.create(model="mock", input="alpha", dimensions=8)
    sized = await sdk.embeddings.create(model="mock", input="alpha", dimensions=8, encoding_format="base64")
    assert [len(row.embedding) for row in first.data] == [256, 256]
    assert first.data[0].embedding != first.data[1].embedding
    assert abs(sum(v * v for v in first.data[0].embedding) - 1.0) < 1e-6  # the SDK asks for float32 base64
    assert first.usage.prompt_tokens > 0
    assert len(again.data[0].embedding) == 8
    assert (
        again.data[0].embedding
        == (await sdk.embeddings.create(model="mock", input="alpha", dimensions=8)).data[0].embedding
    )
    # base64 is little-endian float32, which the SDK itself would decode the same way.
    raw = sized.data[0].embedding
    decoded = list(struct.unpack("<8f", base64.b64decode(raw))) if isinstance(raw, str) else raw
    assert decoded == pytest.approx(again.data[0].embedding, rel=1e-6)
    assert json.loads(json.dumps(first.model_dump()))["object"] == "list"


class Verdict(BaseModel):
    ok: bool
    files: list[str]


async def test_the_agents_sdk_structured_output_goes_through_text_format(proxy_url):
    agent = Agent(name="judge", instructions="Answer in JSON.", model="mock", output_type=Verdict)
    result = await Runner.run(agent, '[[text:{"ok":true,"files":["a.py","é.md"]}]]', run_config=_run_config(proxy_url))
    assert result.final_output == Verdict(ok=True, files=["a.py", "é.md"])


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """LangChain's own client for each test: its default one is cached across event loops (one per test here)."""
    async with httpx.AsyncClient() as client:
        yield client


def chat_openai(proxy_url: str, http: httpx.AsyncClient) -> ChatOpenAI:
    return ChatOpenAI(
        base_url=proxy_url,
        api_key=KEY,
        model="mock",
        use_responses_api=True,
        max_retries=0,
        http_async_client=http,
    )


async def test_langchain_chat_openai_on_the_responses_api(proxy_url, http):
    llm = chat_openai(proxy_url, http)
    bound = llm.bind_tools([read_file_schema])
    message = await bound.ainvoke(f"[[text:On it.]] [[tool:read_file {ARGS}]] [[tool:read_file {{}}]]")
    assert [(call["name"], call["args"]) for call in message.tool_calls] == [
        ("read_file", json.loads(ARGS)),
        ("read_file", {}),
    ]
    chunks = [chunk async for chunk in llm.astream("streamed through langchain")]
    assert "".join(chunk.text for chunk in chunks) == "streamed through langchain"


async def test_langchain_embeddings(proxy_url, http):
    embeddings = OpenAIEmbeddings(
        base_url=proxy_url, api_key=KEY, model="mock", check_embedding_ctx_length=False, http_async_client=http
    )
    vectors = await embeddings.aembed_documents(["alpha", "beta"])
    assert [len(v) for v in vectors] == [256, 256]
    assert await embeddings.aembed_query("alpha") == pytest.approx(vectors[0])


def read_file_schema(path: str) -> str:
    """Read a file from the project."""
    return path


async def test_a_stored_response_is_retrieved_and_deleted(sdk):
    created = await sdk.responses.create(model="mock", input="keep me")
    unstored = await sdk.responses.create(model="mock", input="forget me", store=False)
    retrieved = await sdk.responses.retrieve(created.id)
    assert retrieved.id == created.id
    assert retrieved.output_text == "keep me"
    with pytest.raises(openai.NotFoundError):
        await sdk.responses.retrieve(unstored.id)
    await sdk.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError):
        await sdk.responses.retrieve(created.id)
    with pytest.raises(openai.BadRequestError, match="not found"):
        await sdk.responses.create(model="mock", input="x", previous_response_id=created.id)


async def test_the_agents_sdk_hands_off_between_agents(proxy_url):
    reviewer = Agent(name="reviewer", instructions="Review.", model="mock")
    coder = Agent(name="coder", instructions="Code, or hand off.", model="mock", handoffs=[reviewer])
    prompt = "[[tool:transfer_to_reviewer {}]] [[2:text:Reviewed: looks fine.]]"
    result = await Runner.run(coder, prompt, run_config=_run_config(proxy_url))
    assert result.last_agent.name == "reviewer"
    assert result.final_output == "Reviewed: looks fine."


async def test_langchain_structured_output_on_the_responses_api(proxy_url, http):
    structured = chat_openai(proxy_url, http).with_structured_output(Verdict, method="json_schema")
    verdict = await structured.ainvoke('[[text:{"ok":false,"files":["x.py"]}]]')
    assert verdict == Verdict(ok=False, files=["x.py"])


async def test_the_sdk_parses_structured_output(sdk):
    parsed = await sdk.responses.parse(model="mock", input='[[text:{"ok":true,"files":[]}]]', text_format=Verdict)
    assert parsed.output_parsed == Verdict(ok=True, files=[])


async def test_the_agents_sdk_continues_a_conversation_kept_by_the_proxy(proxy_url):
    agent = Agent(name="reader", instructions="Use tools.", model="mock", tools=[read_file])
    config = _run_config(proxy_url)
    first = await Runner.run(agent, '[[tool:read_file {"path": "a"}]] [[2:text:Read a.]]', run_config=config)
    assert first.final_output == "Read a."
    assert first.last_response_id is not None
    # The next turn sends only the new message; the proxy supplies the conversation from its store.
    second = await Runner.run(agent, "and now?", run_config=config, previous_response_id=first.last_response_id)
    alone = await Runner.run(agent, "and now?", run_config=config)
    assert second.final_output == alone.final_output == "and now?"
    # The mock counts the prompt it was given: the stored conversation made it longer.
    assert second.context_wrapper.usage.input_tokens > alone.context_wrapper.usage.input_tokens + 10
