"""``POST /v1/embeddings`` (OpenAI schema) in front of OpenAI-compatible and Ollama upstreams and the mock.

The call goes through the dispatcher like a completion (retries, fallbacks, rpm/tpm budgets, cooldowns); usage is
recorded in the same metrics and session ledger. ``encoding_format: base64`` is produced here (little-endian
float32, as OpenAI sends it), so every upstream supports it.
"""

from __future__ import annotations

import base64
import struct
import time
from typing import Any, Literal, cast

import orjson
import structlog
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import Receive, Scope, Send

from llm_proxy.catalog import ModelEntry
from llm_proxy.doors.answer import send_error
from llm_proxy.doors.common import parse_json, read_request, resolve_model, session_id
from llm_proxy.errors import ProxyError
from llm_proxy.providers.base import EmbeddingInput, Embeddings, Provider
from llm_proxy.state import ProxyState
from llm_proxy.tokens import estimate_text_tokens
from service_kit.asgi import send_json

PATH = "/v1/embeddings"
MAX_INPUTS = 2048  # OpenAI's own limit per request

_log = structlog.get_logger("llm_proxy.embeddings")


class EmbeddingsRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str | None = None
    input: str | list[str] | list[int] | list[list[int]]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(None, ge=1, le=65536)
    user: str | None = None

    def inputs(self) -> EmbeddingInput:
        """A list of texts or of token arrays; an empty one (or an empty text) is a 400."""
        value = self.input
        if isinstance(value, str):
            items: EmbeddingInput = [value]
        elif value and all(isinstance(v, int) for v in value):
            items = [cast(list[int], value)]
        else:
            items = cast(EmbeddingInput, value)
        if not items or any(len(item) == 0 for item in items):
            raise ProxyError("bad_request", "input must not be empty (nor hold an empty item)", param="input")
        if len(items) > MAX_INPUTS:
            raise ProxyError("bad_request", f"at most {MAX_INPUTS} inputs per request", param="input")
        return items


def parse_embeddings_request(raw: bytes) -> EmbeddingsRequest:
    return parse_json(EmbeddingsRequest, raw)


def _encoded(vector: list[float], encoding: str) -> list[float] | str:
    if encoding == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
    return vector


def _answer(model: str, result: Embeddings, encoding: str) -> dict[str, Any]:
    data = [
        {"object": "embedding", "index": index, "embedding": _encoded(vector, encoding)}
        for index, vector in enumerate(result.vectors)
    ]
    usage = {"prompt_tokens": result.prompt_tokens, "total_tokens": result.prompt_tokens}
    return {"object": "list", "data": data, "model": model, "usage": usage}


class EmbeddingsEndpoint:
    """The ASGI app of ``POST /v1/embeddings``."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state: ProxyState = scope["app"].state.proxy
        try:
            raw = await read_request(state, scope, receive)
            if raw is None:
                return
            body = parse_embeddings_request(raw)
            inputs = body.inputs()
            entry = resolve_model(state, body.model)
            started = time.perf_counter()
            estimate = sum(len(i) if isinstance(i, list) else estimate_text_tokens(len(i.encode())) for i in inputs)

            async def embed(provider: Provider, deployment: ModelEntry) -> tuple[ModelEntry, Embeddings]:
                embedder = getattr(provider, "embed", None)
                if embedder is None:
                    raise ProxyError(
                        "bad_request",
                        f"the model '{deployment.name}' ({deployment.provider}) has no embeddings",
                        param="model",
                    )
                return deployment, await embedder(inputs, deployment, body.dimensions)

            served, result = await state.dispatcher.call(entry, estimate, embed)
        except ProxyError as error:
            await send_error(send, error.scrub(state.secrets))
            return
        _record(state, scope, served, result, time.perf_counter() - started)
        await send_json(send, 200, orjson.dumps(_answer(served.name, result, body.encoding_format)))


def _record(state: ProxyState, scope: Scope, entry: ModelEntry, result: Embeddings, duration: float) -> None:
    series = state.metrics.series(entry.name, entry.provider)
    series.requests.inc()
    series.prompt_tokens.inc(result.prompt_tokens)
    series.duration.observe(duration)
    session = session_id(scope)
    if session:
        state.sessions.add(session, entry.name, result.prompt_tokens, 0)
    _log.info("embeddings", model=entry.name, provider=entry.provider, session_id=session, inputs=len(result.vectors))


def openapi_operation() -> dict[str, Any]:
    return {
        "summary": "Embeddings",
        "description": "Embed texts (or token arrays) with an OpenAI-compatible, Ollama or mock deployment.",
        "operationId": "embeddings_v1_embeddings_post",
        "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}, "required": True},
        "responses": {"200": {"description": "An OpenAI embeddings list", "content": {"application/json": {}}}},
    }
