"""``POST /v1/embeddings`` against the OpenAI-compatible and Ollama wire fakes, the mock, and failures."""

from __future__ import annotations

import base64
import struct

import orjson

from tests.fakes import Reply


def json_reply(body: object, status: int = 200, **headers: str) -> Reply:
    return Reply(status=status, chunks=[orjson.dumps(body)], content_type="application/json", headers=headers)


OPENAI_ANSWER = {
    "object": "list",
    "data": [
        {"object": "embedding", "index": 1, "embedding": [0.5, -0.25]},
        {"object": "embedding", "index": 0, "embedding": [0.125, 1.0]},
    ],
    "model": "text-embedding-3-small",
    "usage": {"prompt_tokens": 7, "total_tokens": 7},
}


async def test_an_openai_compatible_upstream_gets_the_upstream_model_and_floats(proxy_client, upstream):
    upstream.play(json_reply(OPENAI_ANSWER))
    async with proxy_client(openai_base_url=upstream.url + "/v1") as client:
        response = await client.post(
            "/v1/embeddings",
            json={"model": "openai/emb-up", "input": ["a", "b"], "dimensions": 2, "encoding_format": "base64"},
            headers={"X-Session-Id": "emb"},
        )
        usage = (await client.get("/v1/llm/usage/emb")).json()
    assert response.status_code == 200, response.text
    assert upstream.paths == ["/v1/embeddings"]
    assert upstream.requests[0] == {"model": "emb-up", "input": ["a", "b"], "encoding_format": "float", "dimensions": 2}
    body = response.json()
    assert body["model"] == "openai/emb-up"
    assert [row["index"] for row in body["data"]] == [0, 1]
    decoded = [list(struct.unpack("<2f", base64.b64decode(row["embedding"]))) for row in body["data"]]
    assert decoded == [[0.125, 1.0], [0.5, -0.25]]  # in input order, whatever order the upstream listed them
    assert body["usage"] == {"prompt_tokens": 7, "total_tokens": 7}
    assert (usage["requests"], usage["prompt_tokens"]) == (1, 7)


async def test_token_arrays_pass_to_an_openai_compatible_upstream(proxy_client, upstream):
    upstream.play(json_reply({**OPENAI_ANSWER, "data": OPENAI_ANSWER["data"][:1]}))
    async with proxy_client(openai_base_url=upstream.url + "/v1") as client:
        response = await client.post("/v1/embeddings", json={"model": "openai/e", "input": [1, 2, 3]})
    assert response.status_code == 200
    assert upstream.requests[0]["input"] == [[1, 2, 3]]


async def test_an_ollama_upstream_is_asked_on_api_embed(proxy_client, upstream):
    upstream.play(json_reply({"model": "nomic", "embeddings": [[0.1, 0.2, 0.3]], "prompt_eval_count": 4}))
    async with proxy_client(ollama_base_url=upstream.url) as client:
        response = await client.post("/v1/embeddings", json={"model": "ollama/nomic-embed-text", "input": "hi"})
        tokens = await client.post("/v1/embeddings", json={"model": "ollama/nomic-embed-text", "input": [[1, 2]]})
    assert response.status_code == 200, response.text
    assert upstream.paths == ["/api/embed"]
    sent = upstream.requests[0]
    assert (sent["model"], sent["input"]) == ("nomic-embed-text", ["hi"])
    assert response.json()["data"][0]["embedding"] == [0.1, 0.2, 0.3]
    assert response.json()["usage"]["prompt_tokens"] == 4
    assert tokens.status_code == 400
    assert tokens.json()["error"]["param"] == "input"


async def test_an_upstream_429_is_retried_then_served(proxy_client, upstream):
    upstream.play(
        json_reply({"error": {"message": "slow down"}}, status=429, **{"Retry-After": "0"}), json_reply(OPENAI_ANSWER)
    )
    async with proxy_client(openai_base_url=upstream.url + "/v1", max_retries=1) as client:
        response = await client.post("/v1/embeddings", json={"model": "openai/e", "input": ["a", "b"]})
    assert response.status_code == 200
    assert len(upstream.requests) == 2


async def test_upstream_failures_keep_their_status(proxy_client, upstream):
    upstream.play(json_reply({"error": {"message": "boom"}}, status=500))
    async with proxy_client(openai_base_url=upstream.url + "/v1", max_retries=0) as client:
        failed = await client.post("/v1/embeddings", json={"model": "openai/e", "input": "a"})
    assert failed.status_code == 502
    assert failed.json()["error"]["code"] == "upstream_error"


async def test_a_wrong_vector_count_is_a_malformed_answer(proxy_client, upstream):
    upstream.play(json_reply(OPENAI_ANSWER))
    async with proxy_client(openai_base_url=upstream.url + "/v1", max_retries=0) as client:
        response = await client.post("/v1/embeddings", json={"model": "openai/e", "input": ["only one"]})
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_malformed_response"


async def test_bad_requests_are_400s_naming_the_parameter(proxy_client):
    async with proxy_client(anthropic_api_key="sk-ant-test-key") as client:
        empty = await client.post("/v1/embeddings", json={"model": "mock", "input": []})
        blank = await client.post("/v1/embeddings", json={"model": "mock", "input": ["a", ""]})
        anthropic = await client.post("/v1/embeddings", json={"model": "claude-sonnet-4-5", "input": "a"})
        unknown = await client.post("/v1/embeddings", json={"model": "nope", "input": "a"})
        fmt = await client.post("/v1/embeddings", json={"model": "mock", "input": "a", "encoding_format": "int8"})
    for response, param in ((empty, "input"), (blank, "input"), (anthropic, "model"), (fmt, "encoding_format")):
        assert response.status_code == 400, response.text
        assert response.json()["error"]["param"] == param
    assert "has no embeddings" in anthropic.json()["error"]["message"]
    assert unknown.status_code == 404


async def test_the_mock_vectors_depend_only_on_the_input(proxy_client):
    async with proxy_client() as client:
        one = (await client.post("/v1/embeddings", json={"input": ["x", "y", "x"], "dimensions": 16})).json()
    vectors = [row["embedding"] for row in one["data"]]
    assert vectors[0] == vectors[2] != vectors[1]
    assert len(vectors[0]) == 16
