"""``POST /v1/messages`` and ``POST /v1/messages/count_tokens`` (Anthropic Messages API) as raw ASGI endpoints.

The request becomes the neutral chat request (``messages_request``), goes through the same dispatcher (retries,
fallbacks, cooldowns, timeouts, heartbeats) and usage ledger as every door, and the neutral deltas come back as an
Anthropic message (``messages_events``). Errors use Anthropic's shape and keep their HTTP status before the first
byte; after it, the stream ends with an ``error`` event. ``anthropic-version`` and ``anthropic-beta`` are tolerated
(the answer is the 2023-06-01 format), as is the ``?beta=true`` query Claude Code adds.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.types import Receive, Scope, Send

from llm_proxy.doors.answer import Door, answer, send_error
from llm_proxy.doors.common import read_request, resolve_model
from llm_proxy.doors.messages_events import MessageWriter, error_body, error_event
from llm_proxy.doors.messages_request import MessagesRequest, neutral_request, parse_messages_request
from llm_proxy.errors import ProxyError
from llm_proxy.schemas import ChatCompletionRequest
from llm_proxy.state import ProxyState
from llm_proxy.tokens import estimate_prompt_tokens
from service_kit.asgi import send_json

PATH = "/v1/messages"
COUNT_TOKENS_PATH = "/v1/messages/count_tokens"
DESCRIPTION = (
    "Create a message (Anthropic Messages API) on any model of the table. With ``stream: true`` the answer is "
    "Anthropic's SSE events (``message_start`` … ``message_stop``), with ``: keep-alive`` comments while the "
    "upstream is silent; a failure after the first byte is one ``error`` event."
)


async def _parse(
    state: ProxyState, scope: Scope, receive: Receive, *, counting: bool
) -> tuple[MessagesRequest, ChatCompletionRequest] | None:
    """The request and its neutral form; ``None`` when the client left. Raises ``ProxyError``."""
    raw = await read_request(state, scope, receive)
    if raw is None:
        return None
    body = parse_messages_request(raw, needs_max_tokens=not counting)
    return body, neutral_request(body)


class MessagesEndpoint:
    """The ASGI app of ``POST /v1/messages``; reaches the ``ProxyState`` through ``scope["app"]``."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state: ProxyState = scope["app"].state.proxy
        try:
            parsed = await _parse(state, scope, receive, counting=False)
            if parsed is None:
                return  # the client is gone
            body, chat = parsed
            entry = resolve_model(state, body.model)
        except ProxyError as error:
            await send_error(send, error.scrub(state.secrets), error_body)
            return
        await answer(_DOOR, state, scope, receive, send, chat, entry, stream=body.stream)


_DOOR = Door(MessageWriter, error_body, error_event)
_REFUSED = orjson.dumps(
    {"type": "error", "error": {"type": "authentication_error", "message": "missing or invalid API key"}}
)


def auth_refusal(path: str) -> bytes | None:
    """The 401 body in Anthropic's shape on this door's paths (the auth middleware's ``refusal``)."""
    return _REFUSED if path.startswith(PATH) else None


class CountTokensEndpoint:
    """``POST /v1/messages/count_tokens``: the proxy's estimate of the prompt (the same one that picks a deployment
    whose context window fits), ``{"input_tokens": N}``."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state: ProxyState = scope["app"].state.proxy
        try:
            parsed = await _parse(state, scope, receive, counting=True)
            if parsed is None:
                return
            body, chat = parsed
            resolve_model(state, body.model)
        except ProxyError as error:
            await send_error(send, error.scrub(state.secrets), error_body)
            return
        await send_json(send, 200, orjson.dumps({"input_tokens": estimate_prompt_tokens(chat)}))


def _operation(summary: str, operation_id: str, description: str, answer: str) -> dict[str, Any]:
    return {
        "summary": summary,
        "description": description,
        "operationId": operation_id,
        "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}, "required": True},
        "responses": {
            "200": {
                "description": answer,
                "content": {"application/json": {"schema": {}}, "text/event-stream": {"schema": {}}},
            }
        },
    }


def openapi_operation() -> dict[str, Any]:
    """The ``post`` operation of ``/v1/messages`` for the OpenAPI document (FastAPI does not see a raw route)."""
    return _operation(
        "Messages", "messages_v1_messages_post", DESCRIPTION, "A message (JSON), or its events (SSE) with stream: true"
    )


def count_tokens_operation() -> dict[str, Any]:
    return _operation(
        "Count message tokens",
        "count_tokens_v1_messages_count_tokens_post",
        "The estimated input tokens of a Messages request.",
        '{"input_tokens": N}',
    )
