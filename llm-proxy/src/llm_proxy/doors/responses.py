"""``POST /v1/responses`` (OpenAI Responses API) as a raw ASGI endpoint, streaming and not.

The request becomes the neutral chat request (``responses_request``), goes through the same dispatcher (retries,
fallbacks, cooldowns, timeouts, heartbeats) and usage ledger as every door, and the neutral deltas come back as a
response (``responses_events``). Failures before the first byte keep their HTTP status in the OpenAI error envelope.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from llm_proxy.api import error_response
from llm_proxy.doors.answer import Door, Writer, answer, send_error
from llm_proxy.doors.common import caller_id, read_request, resolve_model
from llm_proxy.doors.responses_events import ResponseWriter, envelope, error_event, new_id
from llm_proxy.doors.responses_request import ResponsesRequest, chat_request, parse_responses_request
from llm_proxy.doors.responses_tools import custom_tool_names, namespaced_tool_names
from llm_proxy.errors import ProxyError
from llm_proxy.schemas import ChatMessage
from llm_proxy.state import ProxyState

PATH = "/v1/responses"
DESCRIPTION = (
    "Create a model response (OpenAI Responses API). With ``stream: true`` the answer is SSE events with "
    "sequence numbers ending in ``response.completed`` (or ``response.incomplete``/``response.failed``), with "
    "``: keep-alive`` comments while the upstream is silent."
)


class ResponsesEndpoint:
    """The ASGI app of ``POST /v1/responses``; reaches the ``ProxyState`` through ``scope["app"]``."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state: ProxyState = scope["app"].state.proxy
        caller = caller_id(scope)
        try:
            raw = await read_request(state, scope, receive)
            if raw is None:
                return  # the client is gone
            body = parse_responses_request(raw)
            history: list[ChatMessage] = []
            if body.previous_response_id:
                history = list((await state.responses.get(caller, body.previous_response_id)).conversation)
            ignore = state.settings.responses_unsupported_tools == "ignore"
            chat, conversation = chat_request(body, history, ignore_unsupported_tools=ignore)
            entry = resolve_model(state, body.model)
        except ProxyError as error:
            await send_error(send, error.scrub(state.secrets))
            return
        turn = _Turn(state, caller, body, conversation, len(raw))
        door = Door(turn.writer, ProxyError.body, error_event, turn.store)
        await answer(door, state, scope, receive, send, chat, entry, stream=body.stream)


_OBJECT_OVERHEAD = 3


class _Turn:
    """One request's response: its id, its writer, and storing it once it is whole."""

    def __init__(
        self, state: ProxyState, caller: str, body: ResponsesRequest, conversation: list[ChatMessage], raw_size: int
    ) -> None:
        self._state = state
        self._raw_size = raw_size
        self._caller = caller
        self._body = body
        self._conversation = conversation
        self.id = new_id("resp")

    def writer(self, model: str, prompt_tokens: int, *, stream: bool) -> ResponseWriter:
        tools = self._body.tools
        return ResponseWriter(
            envelope(self.id, model, self._body),
            stream=stream,
            custom_tools=custom_tool_names(tools),
            namespaced_tools=namespaced_tool_names(tools),
        )

    async def store(self, writer: Writer, response: dict[str, Any]) -> None:
        if self._body.stored:
            assert isinstance(writer, ResponseWriter)
            conversation = [*self._conversation, writer.assistant_message()]
            # Python objects hold a few times their JSON: the request's (the new input) and the output's.
            size = _OBJECT_OVERHEAD * (self._raw_size + len(orjson.dumps(response["output"])))
            await self._state.responses.put(self._caller, self.id, conversation, response, size)


router = APIRouter()


def _not_kept(response_id: str) -> Response:
    return error_response(
        ProxyError("not_found", f"No response with id '{response_id}' is kept", code="response_not_found")
    )


@router.get("/v1/responses/{response_id}", response_model=None)
async def retrieve_response(response_id: str, request: Request) -> Response:
    """A response created with ``store`` (the default), while it is kept; only its creator's key sees it."""
    state: ProxyState = request.app.state.proxy
    stored = await state.responses.find(caller_id(request.scope), response_id)
    if stored is None:
        return _not_kept(response_id)
    return Response(orjson.dumps(stored.response), media_type="application/json")


@router.delete("/v1/responses/{response_id}", response_model=None)
async def delete_response(response_id: str, request: Request) -> Response:
    """Forget a stored response (it can no longer be continued)."""
    state: ProxyState = request.app.state.proxy
    if not await state.responses.delete(caller_id(request.scope), response_id):
        return _not_kept(response_id)
    body = {"id": response_id, "object": "response.deleted", "deleted": True}
    return Response(orjson.dumps(body), media_type="application/json")


def openapi_operation() -> dict[str, Any]:
    """The route's ``post`` operation for the OpenAPI document (FastAPI does not see a raw ASGI route)."""
    return {
        "summary": "Responses",
        "description": DESCRIPTION,
        "operationId": "responses_v1_responses_post",
        "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}, "required": True},
        "responses": {
            "200": {
                "description": "A response object (JSON), or its events (SSE) with stream: true",
                "content": {"application/json": {"schema": {}}, "text/event-stream": {"schema": {}}},
            }
        },
    }
