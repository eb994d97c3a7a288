"""HTTP routes of the OpenAI-compatible API besides the completion route (``llm_proxy.endpoint``): models, usage."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from llm_proxy.errors import ProxyError, unknown_model_error
from llm_proxy.state import ProxyState

router = APIRouter()


def _state(request: Request) -> ProxyState:
    state: ProxyState = request.app.state.proxy
    return state


def error_response(error: ProxyError) -> Response:
    return Response(error.body(), status_code=error.status, media_type="application/json", headers=error.headers())


@router.get("/v1/models")
async def list_models(request: Request) -> dict[str, Any]:
    """Models in the OpenAI shape."""
    entries = _state(request).catalog.entries.values()
    data = [{"id": e.name, "object": "model", "created": 0, "owned_by": e.provider} for e in entries]
    return {"object": "list", "data": data}


@router.get("/v1/models/{model_id:path}", response_model=None)
async def retrieve_model(model_id: str, request: Request) -> Response:
    """One model in the OpenAI shape (also ``<provider>/<model>`` names of configured providers)."""
    catalog = _state(request).catalog
    entry = catalog.resolve(model_id)
    if entry is None:
        return error_response(unknown_model_error(model_id, catalog.available()))
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
