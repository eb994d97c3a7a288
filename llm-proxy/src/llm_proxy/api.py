"""HTTP routes of the OpenAI-compatible API. Thin: parse, dispatch, answer; errors leave as ``ProxyError``."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import Response

from llm_proxy.chunks import CompletionIdentity, fold, sse_events
from llm_proxy.completion import CompletionRun
from llm_proxy.errors import ProxyError
from llm_proxy.schemas import ChatCompletionRequest
from llm_proxy.state import ProxyState
from llm_proxy.tokens import estimate_prompt_tokens
from service_kit.errors import validation_message
from service_kit.sse import event_stream_response

router = APIRouter()

_REQUEST_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ChatCompletionRequest"}}},
    }
}


def _state(request: Request) -> ProxyState:
    state: ProxyState = request.app.state.proxy
    return state


def error_response(error: ProxyError) -> Response:
    return Response(error.body(), status_code=error.status, media_type="application/json", headers=error.headers())


async def _parse(request: Request, limit: int) -> ChatCompletionRequest:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ProxyError("too_large", f"the request body exceeds {limit} bytes")
    parts: list[bytes] = []
    size = 0
    async for part in request.stream():  # a chunked body has no content-length: stop reading at the limit
        size += len(part)
        if size > limit:
            raise ProxyError("too_large", f"the request body exceeds {limit} bytes")
        parts.append(part)
    raw = b"".join(parts)
    try:
        body = ChatCompletionRequest.model_validate(orjson.loads(raw))
    except orjson.JSONDecodeError:
        raise ProxyError("bad_request", "the request body is not valid JSON") from None
    except ValidationError as exc:
        message, param = validation_message(list(exc.errors(include_url=False, include_input=False)))  # type: ignore[arg-type]
        raise ProxyError("bad_request", message, param=param, code="invalid_request") from None
    unsupported = body.unsupported()
    if unsupported is not None:
        raise ProxyError("bad_request", unsupported[1], param=unsupported[0], code="unsupported_value")
    return body


@router.post("/v1/chat/completions", response_model=None, openapi_extra=_REQUEST_SCHEMA)
async def chat_completions(request: Request) -> Response:
    """Create a chat completion; with ``stream: true`` the answer is SSE ending in ``data: [DONE]``, or in one
    ``data: {"error": …}`` event (and no ``[DONE]``) when the upstream failed after the first byte."""
    state = _state(request)
    try:
        body = await _parse(request, state.settings.max_request_bytes)
        name = body.model or state.settings.default_model
        entry = state.catalog.resolve(name)
        if entry is None:
            raise ProxyError("not_found", f"The model '{name}' does not exist", param="model")
        prompt_tokens = estimate_prompt_tokens(body)
        opened = await state.dispatcher.open(body, entry, prompt_tokens)
    except ProxyError as error:
        return error_response(error.scrub(state.secrets))
    run = CompletionRun(
        opened,
        metrics=state.metrics,
        sessions=state.sessions,
        session_id=request.headers.get("x-session-id"),
        prompt_estimate=prompt_tokens,
        secrets=state.secrets,
    )
    identity = CompletionIdentity(opened.entry.name)
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return event_stream_response(sse_events(identity, run.batches(), include_usage=include_usage))
    try:
        completion = await fold(identity, run.batches())
    except ProxyError as error:
        return error_response(error)  # already scrubbed by the run
    return Response(orjson.dumps(completion), media_type="application/json")


@router.get("/v1/models")
async def list_models(request: Request) -> dict[str, Any]:
    """Models in the OpenAI shape."""
    entries = _state(request).catalog.entries.values()
    data = [{"id": e.name, "object": "model", "created": 0, "owned_by": e.provider} for e in entries]
    return {"object": "list", "data": data}


@router.get("/v1/models/{model_id:path}", response_model=None)
async def retrieve_model(model_id: str, request: Request) -> Response:
    """One model in the OpenAI shape (also ``<provider>/<model>`` names of configured providers)."""
    entry = _state(request).catalog.resolve(model_id)
    if entry is None:
        return error_response(ProxyError("not_found", f"The model '{model_id}' does not exist", param="model"))
    body = {"id": entry.name, "object": "model", "created": 0, "owned_by": entry.provider}
    return Response(orjson.dumps(body), media_type="application/json")


@router.get("/v1/llm/models")
async def list_llm_models(request: Request) -> list[dict[str, Any]]:
    """Models with provider, context window and availability (configured and not cooling down), for the runtime."""
    state = _state(request)
    return [
        {
            "id": e.name,
            "name": e.name,
            "provider": e.provider,
            "context_length": e.context_window,
            "is_available": state.dispatcher.is_available(e),
        }
        for e in state.catalog.entries.values()
    ]


@router.get("/v1/llm/usage/{session_id}")
async def session_usage(session_id: str, request: Request) -> Response:
    """Token usage of the completions that carried ``X-Session-Id: <session_id>`` (recent sessions only)."""
    totals = _state(request).sessions.get(session_id)
    if totals is None:
        return error_response(
            ProxyError("not_found", f"no usage recorded for session '{session_id}'", code="not_found")
        )
    return Response(orjson.dumps(totals.view(session_id)), media_type="application/json")
