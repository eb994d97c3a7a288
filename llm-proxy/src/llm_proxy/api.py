"""HTTP routes of the OpenAI-compatible API."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import ORJSONResponse
from starlette.responses import Response

from llm_proxy.chunks import CompletionIdentity, completion_chunks, fold, sse_bytes
from llm_proxy.providers.base import Provider
from llm_proxy.schemas import ChatCompletionRequest
from service_kit.errors import error_response
from service_kit.sse import event_stream_response

router = APIRouter()


def _providers(request: Request) -> dict[str, Provider]:
    providers: dict[str, Provider] = request.app.state.providers
    return providers


@router.post("/v1/chat/completions", response_model=None)
async def chat_completions(body: ChatCompletionRequest, request: Request) -> Response:
    """Create a chat completion; with ``stream: true`` the answer is SSE ending in ``data: [DONE]``."""
    model = body.model or request.app.state.settings.default_model
    provider = _providers(request).get(model)
    if provider is None:
        return error_response(404, f"The model '{model}' does not exist", code="model_not_found", param="model")
    identity = CompletionIdentity(model)
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    chunks = completion_chunks(identity, provider.stream(body), include_usage=include_usage or not body.stream)
    if body.stream:
        return event_stream_response(sse_bytes(chunks))
    return ORJSONResponse(await fold(identity, chunks))


@router.get("/v1/models")
async def list_models(request: Request) -> dict[str, object]:
    """Models in the OpenAI shape."""
    return {
        "object": "list",
        "data": [
            {"id": name, "object": "model", "created": 0, "owned_by": p.name} for name, p in _providers(request).items()
        ],
    }


@router.get("/v1/llm/models")
async def list_llm_models(request: Request) -> list[dict[str, object]]:
    """Models with provider and context window, for the agent runtime."""
    return [
        {"id": name, "name": name, "provider": p.name, "context_length": 32768, "is_available": True}
        for name, p in _providers(request).items()
    ]
