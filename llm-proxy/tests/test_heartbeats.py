"""Liveness of a streamed answer: heartbeats while the upstream is silent (before its first byte too), retries and
fallbacks still at work behind them, a failure after the first heartbeat as the stream's error event, and the
first-byte limit per model."""

from __future__ import annotations

import orjson

from tests.fakes import chat, sse_events

HEARTBEAT = ": keep-alive\n\n"
FALLBACK_CHAIN = (
    "models:\n"
    "  flaky: {provider: mock, upstream_model: mock, fallbacks: [steady]}\n"
    "  steady: {provider: mock, upstream_model: mock-stable}\n"
)


async def test_a_model_silent_before_its_first_token_gets_heartbeats_then_its_answer(proxy_client):
    async with proxy_client(heartbeat_interval_s=0.02) as client:
        response = await client.post("/v1/chat/completions", json=chat("thinking hard [[ttft_ms:300]]", stream=True))
    assert response.status_code == 200
    assert response.text.startswith(HEARTBEAT)
    text = "".join(
        (orjson.loads(event)["choices"][0]["delta"].get("content") or "")
        for event in sse_events(response.text)
        if event != b"[DONE]"
    )
    assert text == "thinking hard"
    assert response.text.endswith("data: [DONE]\n\n")


async def test_a_quick_answer_carries_no_heartbeat(proxy_client):
    async with proxy_client(heartbeat_interval_s=60) as client:
        response = await client.post("/v1/chat/completions", json=chat("quick", stream=True))
    assert HEARTBEAT not in response.text


async def test_a_failure_after_the_first_heartbeat_is_the_streams_error_event(proxy_client):
    async with proxy_client(heartbeat_interval_s=0.02, max_retries=0) as client:
        response = await client.post("/v1/chat/completions", json=chat("x [[ttft_ms:200]] [[fault:503]]", stream=True))
    assert response.status_code == 200  # the heartbeats had committed it
    assert response.text.startswith(HEARTBEAT)
    events = sse_events(response.text)
    assert [orjson.loads(e)["error"]["code"] for e in events] == ["upstream_unavailable"]
    assert b"[DONE]" not in events


async def test_a_failure_before_any_heartbeat_keeps_its_http_status(proxy_client):
    async with proxy_client(heartbeat_interval_s=60, max_retries=0) as client:
        response = await client.post("/v1/chat/completions", json=chat("x [[fault:503]]", stream=True))
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "upstream_unavailable"


async def test_fallbacks_still_work_behind_the_heartbeats(proxy_client, tmp_path):
    models = tmp_path / "models.yaml"
    models.write_text(FALLBACK_CHAIN)
    async with proxy_client(models_file=str(models), heartbeat_interval_s=0.02, max_retries=1) as client:
        body = {**chat("slow then fine [[ttft_ms:150]] [[fault:500]]", stream=True), "model": "flaky"}
        response = await client.post("/v1/chat/completions", json=body)
        metrics = (await client.get("/metrics")).text
    assert response.text.startswith(HEARTBEAT)
    chunks = [orjson.loads(e) for e in sse_events(response.text) if e != b"[DONE]"]
    assert {chunk["model"] for chunk in chunks} == {"steady"}
    assert response.text.endswith("data: [DONE]\n\n")
    assert 'llm_proxy_retries_total{model="flaky",provider="mock"} 1.0' in metrics


async def test_the_first_byte_limit_is_per_model(proxy_client, tmp_path):
    models = tmp_path / "models.yaml"
    models.write_text("models:\n  impatient: {provider: mock, upstream_model: mock, first_byte_timeout: 0.2}\n")
    async with proxy_client(models_file=str(models), first_byte_timeout_s=600) as client:
        body = {**chat("[[fault:stall]]", stream=True), "model": "impatient"}
        response = await client.post("/v1/chat/completions", json=body)
    assert response.status_code == 504
    assert "0.2 s first-byte timeout" in response.json()["error"]["message"]
