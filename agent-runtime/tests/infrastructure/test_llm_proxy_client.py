"""The llm-proxy client against a small fake server speaking OpenAI chat-completions SSE."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from aiohttp import web

from agent_runtime.infrastructure.llm_proxy_client import LLMError, LLMProxyClient, LLMProxyModels
from service_kit.stream_client import StreamClient

KEY = "fake-key-0123456789abcdef"


@pytest.fixture
async def proxy() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []
    released = asyncio.Event()  # holds the frozen answers until the server stops

    async def completions(request: web.Request) -> web.StreamResponse:
        body = orjson.loads(await request.read())
        seen.append({"headers": dict(request.headers), "body": body})
        if body["model"] == "missing":
            return web.json_response({"error": {"message": "no such model"}}, status=404)
        if body["model"] == "frozen":  # a stopped process: the connection stays open, nothing comes back
            await released.wait()
            return web.Response()
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        if body["model"] == "thinking":  # silent before its first token, but the heartbeats prove it alive
            for _ in range(8):
                await response.write(b": keep-alive\n\n")
                await asyncio.sleep(0.05)
        if body["model"] == "gave-up":
            await response.write(b": keep-alive\n\n")
            error = {"message": "mock sent nothing within its 600 s first-byte timeout", "type": "timeout_error"}
            await response.write(b"data: " + orjson.dumps({"error": error}) + b"\n\n")
            return response
        for token in ("Hel", "lo"):
            chunk = {"choices": [{"index": 0, "delta": {"content": token}}]}
            await response.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
        if body["model"] == "cut":
            request.transport.close()  # type: ignore[union-attr]
            return response
        if body["model"] == "stops":  # stopped mid-answer
            await released.wait()
            return response
        if body["model"] == "broken":
            await response.write(b'data: {"error": {"message": "upstream died"}}\n\n')
            return response
        await response.write(b"data: [DONE]\n\n")
        return response

    async def models(request: web.Request) -> web.Response:
        seen.append({"headers": dict(request.headers), "models": True})
        listed = [{"id": "mock", "name": "mock", "provider": "mock", "context_length": 4096, "is_available": True}]
        return web.json_response(listed)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", completions)
    app.router.add_get("/v1/llm/models", models)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}", seen
    released.set()
    await runner.cleanup()


async def collect(client: LLMProxyClient, model: str) -> list[dict[str, Any]]:
    """Every chunk of one call (bounded: a hanging client fails the test instead of the suite)."""
    async with asyncio.timeout(10):
        return await _collect(client, model)


async def _collect(client: LLMProxyClient, model: str) -> list[dict[str, Any]]:
    return [
        c async for c in client.stream_chat(model=model, messages=[{"role": "user", "content": "hi"}], session_id="s1")
    ]


async def test_chunks_stream_and_the_session_id_tags_the_call(proxy: tuple[str, list[dict[str, Any]]]) -> None:
    url, seen = proxy
    chunks = await collect(LLMProxyClient(StreamClient(url), KEY), "mock")
    assert [c["choices"][0]["delta"]["content"] for c in chunks] == ["Hel", "lo"]
    headers = seen[0]["headers"]
    assert headers["X-Session-Id"] == "s1"
    assert headers["X-Internal-Auth"] == KEY
    assert seen[0]["body"]["stream_options"] == {"include_usage": True}


async def test_an_http_error_keeps_its_status(proxy: tuple[str, list[dict[str, Any]]]) -> None:
    url, _ = proxy
    with pytest.raises(LLMError) as caught:
        await collect(LLMProxyClient(StreamClient(url), KEY), "missing")
    assert caught.value.status == 404
    assert caught.value.message == "no such model"


async def test_an_in_stream_error_raises(proxy: tuple[str, list[dict[str, Any]]]) -> None:
    url, _ = proxy
    with pytest.raises(LLMError, match="upstream died"):
        await collect(LLMProxyClient(StreamClient(url), KEY), "broken")


async def test_tools_and_the_response_format_go_out_with_the_request(proxy: tuple[str, list[dict[str, Any]]]) -> None:
    url, seen = proxy
    tool = {"type": "function", "function": {"name": "read_file", "parameters": {"type": "object"}}}
    client = LLMProxyClient(StreamClient(url), KEY)
    messages = [{"role": "user", "content": "hi"}]
    _ = [c async for c in client.stream_chat(model="mock", messages=messages, tools=[tool])]
    _ = [c async for c in client.stream_chat(model="mock", messages=messages, response_format={"type": "json_object"})]
    assert (seen[0]["body"]["tools"], seen[0]["body"]["tool_choice"]) == ([tool], "auto")
    assert "response_format" not in seen[0]["body"]
    assert seen[1]["body"]["response_format"] == {"type": "json_object"}
    assert "tools" not in seen[1]["body"]


async def test_context_windows_come_from_the_model_list_fetched_once(proxy: tuple[str, list[dict[str, Any]]]) -> None:
    url, seen = proxy
    models = LLMProxyModels(StreamClient(url), KEY, refresh=3600)
    assert await models.window("mock") == 4096
    assert await models.window("unknown") is None
    assert await models.window("mock") == 4096
    assert len([entry for entry in seen if entry.get("models")]) == 1
    assert seen[0]["headers"]["X-Internal-Auth"] == KEY


async def test_an_unreachable_model_list_means_no_window() -> None:
    assert await LLMProxyModels(StreamClient("http://127.0.0.1:9"), KEY).window("mock") is None


async def test_an_unreachable_proxy_is_status_0_and_a_cut_stream_is_502(
    proxy: tuple[str, list[dict[str, Any]]],
) -> None:
    with pytest.raises(LLMError) as unreachable:
        await collect(LLMProxyClient(StreamClient("http://127.0.0.1:9"), KEY), "mock")
    assert unreachable.value.status == 0
    url, _ = proxy
    with pytest.raises(LLMError) as cut:
        await collect(LLMProxyClient(StreamClient(url), KEY), "cut")
    assert cut.value.status == 502


@pytest.mark.parametrize("model", ["frozen", "stops"])
async def test_a_proxy_that_stops_answering_is_a_504_within_the_stream_timeout(
    proxy: tuple[str, list[dict[str, Any]]], model: str
) -> None:
    url, _ = proxy
    started = time.monotonic()
    with pytest.raises(LLMError) as caught:
        await collect(LLMProxyClient(StreamClient(url), KEY, stream_timeout=0.3), model)
    assert caught.value.status == 504
    assert "stopped answering" in caught.value.message
    assert time.monotonic() - started < 5


async def test_heartbeats_keep_a_silent_model_call_alive(proxy: tuple[str, list[dict[str, Any]]]) -> None:
    url, _ = proxy
    chunks = await collect(LLMProxyClient(StreamClient(url), KEY, stream_timeout=0.3), "thinking")
    assert [c["choices"][0]["delta"]["content"] for c in chunks] == ["Hel", "lo"]


async def test_an_error_event_keeps_the_meaning_of_its_type(proxy: tuple[str, list[dict[str, Any]]]) -> None:
    url, _ = proxy
    with pytest.raises(LLMError) as caught:
        await collect(LLMProxyClient(StreamClient(url), KEY), "gave-up")
    assert caught.value.status == 504
    assert "first-byte timeout" in caught.value.message
