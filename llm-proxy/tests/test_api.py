"""The HTTP surface: auth, errors in the envelope with real statuses, model lists, one code path, usage, metrics."""

from __future__ import annotations

import httpx
import orjson
import pytest

from llm_proxy.app import create_app
from service_kit.settings import ConfigurationError
from tests.conftest import KEY, make_settings
from tests.fakes import Reply, chat, sse_events


async def test_requests_without_the_key_are_refused_with_401(proxy_client):
    async with proxy_client() as client:
        response = await client.post(
            "/v1/chat/completions", json=chat("x"), headers={"Authorization": "Bearer wrong-key-000000000"}
        )
        health = await client.get("/health", headers={"Authorization": ""})
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"
    assert health.status_code == 200


async def test_the_internal_header_works_as_well_as_bearer(proxy_client):
    async with proxy_client() as client:
        client.headers.pop("Authorization")
        response = await client.post("/v1/chat/completions", json=chat("x"), headers={"X-Internal-Auth": KEY})
    assert response.status_code == 200


async def test_an_unknown_model_is_a_404_naming_it_and_the_available_ones(proxy_client):
    async with proxy_client() as client:
        response = await client.post("/v1/chat/completions", json={**chat("x"), "model": "gpt-9"})
        retrieved = await client.get("/v1/models/gpt-9")
    assert response.status_code == retrieved.status_code == 404
    assert response.json()["error"] == {
        "message": "The model 'gpt-9' does not exist; available models: mock, mock-stable",
        "type": "not_found_error",
        "code": "model_not_found",
        "param": "model",
    }
    assert retrieved.json() == response.json()


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b"{not json", None),
        (b'{"messages": []}', "messages"),
        (b'{"messages": [{"role": "robot", "content": "x"}]}', "messages.0.role"),
        (b'{"messages": [{"role": "tool", "content": "x"}]}', "messages.0"),
        (b'{"messages": [{"role": "user", "content": "x"}], "n": 2}', "n"),
        (b'{"messages": [{"role": "user", "content": "x"}], "temperature": 3}', "temperature"),
    ],
)
async def test_invalid_or_unsupported_requests_are_400_naming_the_parameter(proxy_client, body, param):
    async with proxy_client() as client:
        response = await client.post("/v1/chat/completions", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


async def test_a_body_over_the_limit_is_a_413(proxy_client):
    async with proxy_client(max_request_bytes=2048) as client:
        response = await client.post("/v1/chat/completions", json=chat("x" * 5000))
    assert response.status_code == 413


async def test_a_prompt_larger_than_the_window_is_context_length_exceeded(proxy_client):
    async with proxy_client() as client:
        response = await client.post("/v1/chat/completions", json=chat("word " * 40000))
    error = response.json()["error"]
    assert response.status_code == 400
    assert error["code"] == "context_length_exceeded"
    assert error["available_tokens"] == 32768
    assert error["needed_tokens"] > 32768


async def test_the_non_streaming_answer_is_the_stream_folded(proxy_client):
    async with proxy_client() as client:
        streamed = await client.post(
            "/v1/chat/completions", json=chat("same words here", stream=True, stream_options={"include_usage": True})
        )
        folded = await client.post("/v1/chat/completions", json=chat("same words here"))
    events = [orjson.loads(e) for e in sse_events(streamed.text)[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in events if c["choices"])
    body = folded.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["content"] == text == "same words here"
    assert body["usage"] == events[-1]["usage"]
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    assert streamed.headers["content-type"].startswith("text/event-stream")


async def test_usage_chunk_only_when_asked(proxy_client):
    async with proxy_client() as client:
        response = await client.post("/v1/chat/completions", json=chat("x", stream=True))
    assert all(b'"usage"' not in e for e in sse_events(response.text))


async def test_model_lists_carry_context_lengths_and_availability(proxy_client, tmp_path):
    models = tmp_path / "models.yaml"
    models.write_text(
        "models:\n  big:\n    provider: anthropic\n    upstream_model: claude-x\n    context_window: 200000\n"
    )
    async with proxy_client(models_file=str(models)) as client:
        openai_shape = (await client.get("/v1/models")).json()
        ours = (await client.get("/v1/llm/models")).json()
    assert {"id": "big", "object": "model", "created": 0, "owned_by": "anthropic"} in openai_shape["data"]
    assert {
        "id": "big",
        "name": "big",
        "provider": "anthropic",
        "context_length": 200000,
        "is_available": False,
    } in ours
    assert {"id": "mock", "name": "mock", "provider": "mock", "context_length": 32768, "is_available": True} in ours


async def test_fallback_from_a_failing_mock_to_mock_stable(proxy_client, tmp_path):
    models = tmp_path / "models.yaml"
    models.write_text(
        "models:\n"
        "  flaky: {provider: mock, upstream_model: mock, fallbacks: [steady]}\n"
        "  steady: {provider: mock, upstream_model: mock-stable}\n"
    )
    async with proxy_client(models_file=str(models), max_retries=0) as client:
        response = await client.post("/v1/chat/completions", json={**chat("hi [[fault:503]]"), "model": "flaky"})
        metrics = (await client.get("/metrics")).text
    assert response.status_code == 200
    assert response.json()["model"] == "steady"
    assert 'llm_proxy_fallbacks_total{from_model="flaky",to_model="steady"} 1.0' in metrics


async def test_session_usage_is_tagged_by_x_session_id(proxy_client):
    async with proxy_client() as client:
        for _ in range(2):
            await client.post("/v1/chat/completions", json=chat("a [[usage:10 3]]"), headers={"X-Session-Id": "s-1"})
        usage = (await client.get("/v1/llm/usage/s-1")).json()
        missing = await client.get("/v1/llm/usage/s-2")
    assert usage["requests"] == 2
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (20, 6, 26)
    assert usage["by_model"]["mock"] == {"requests": 2, "prompt_tokens": 20, "completion_tokens": 6}
    assert missing.status_code == 404


async def test_metrics_count_requests_tokens_and_errors_per_model(proxy_client):
    async with proxy_client(max_retries=0) as client:
        await client.post("/v1/chat/completions", json=chat("a b [[usage:7 2]]", stream=True))
        await client.post("/v1/chat/completions", json=chat("[[fault:429]]"))
        metrics = (await client.get("/metrics")).text
    assert 'llm_proxy_requests_total{model="mock",provider="mock"} 1.0' in metrics
    assert 'llm_proxy_tokens_total{kind="prompt",model="mock",provider="mock"} 7.0' in metrics
    assert 'llm_proxy_errors_total{kind="rate_limit",model="mock",provider="mock"} 1.0' in metrics
    assert 'llm_proxy_time_to_first_token_seconds_count{model="mock",provider="mock"} 1.0' in metrics
    assert "llm_proxy_inter_token_gap_seconds_bucket" in metrics


def test_a_bad_models_file_stops_start_up_with_line_and_reason(tmp_path):
    models = tmp_path / "models.yaml"
    models.write_text("models:\n  a:\n    provider: openai\n    fallbacks: [nope]\n")
    with pytest.raises(ConfigurationError) as caught:
        create_app(make_settings(models_file=str(models)))
    assert "models.yaml:2: a.fallbacks: unknown model 'nope'" in str(caught.value)


def test_an_unknown_default_model_stops_start_up():
    with pytest.raises(ConfigurationError):
        create_app(make_settings(default_model="gpt-4o"))


async def test_the_default_model_is_used_when_none_is_named(proxy_client):
    async with proxy_client() as client:
        response = await client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "yo"}]})
    assert response.json()["model"] == "mock"
    assert isinstance(client, httpx.AsyncClient)


async def test_a_failing_openai_deployment_falls_back_to_another_provider(proxy_client, upstream, tmp_path):
    models = tmp_path / "models.yaml"
    models.write_text(
        "models:\n"
        "  remote: {provider: openai, upstream_model: gpt-up, fallbacks: [local]}\n"
        "  local: {provider: mock, upstream_model: mock-stable}\n"
    )
    upstream.play(Reply(status=500))
    settings = {"models_file": str(models), "openai_base_url": upstream.url + "/v1", "max_retries": 1}
    async with proxy_client(**settings) as client:
        response = await client.post("/v1/chat/completions", json={**chat("still answered"), "model": "remote"})
    assert response.status_code == 200
    assert response.json()["model"] == "local"
    assert response.json()["choices"][0]["message"]["content"] == "still answered"
    assert len(upstream.requests) == 2


async def test_every_reference_in_the_openapi_document_resolves(proxy_client):
    async with proxy_client() as client:
        document = (await client.get("/openapi.json")).json()
    refs: list[str] = []

    def collect(node: object) -> None:
        if isinstance(node, dict):
            refs.extend(v for k, v in node.items() if k == "$ref")
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(document)
    schemas = document["components"]["schemas"]
    assert "#/components/schemas/ChatCompletionRequest" in refs
    assert [r for r in refs if r.removeprefix("#/components/schemas/") not in schemas] == []


async def test_a_chunked_body_over_the_limit_is_a_413(proxy_client):
    async def body():
        for _ in range(10):
            yield b" " * 1000

    async with proxy_client(max_request_bytes=2048) as client:
        response = await client.post("/v1/chat/completions", content=body())
    assert response.status_code == 413


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}])
async def test_the_completion_route_still_requires_the_internal_key(proxy_client, headers):
    async with proxy_client() as http:
        http.headers.pop("Authorization")
        response = await http.post("/v1/chat/completions", json=chat("hi"), headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


async def test_the_completion_route_echoes_the_request_id_and_refuses_other_methods(proxy_client):
    async with proxy_client() as http:
        answered = await http.post("/v1/chat/completions", json=chat("hi"), headers={"X-Request-ID": "req-42"})
        refused = await http.get("/v1/chat/completions")
    assert answered.status_code == 200
    assert answered.headers["x-request-id"] == "req-42"
    assert refused.status_code == 405
    assert "error" in refused.json()
