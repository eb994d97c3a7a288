"""``POST /v1/chat/completions`` as a raw ASGI endpoint: parse, dispatch, answer; errors leave as ``ProxyError``.

The hot route of the proxy skips FastAPI's per-request machinery (request object, dependency solving, response
classes): measured at ~1.5 ms of CPU per short request before, most of it framework. The app's middleware (request
id, internal auth, error handlers) still wraps it, and its OpenAPI entry is added in ``llm_proxy.app``.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.types import Receive, Scope, Send

from llm_proxy.catalog import ModelEntry
from llm_proxy.chunks import CompletionIdentity, error_event, fold, sse_events
from llm_proxy.doors.answer import open_streamed, send_error
from llm_proxy.doors.common import completion_batches, parse_json, read_request, resolve_model
from llm_proxy.errors import ProxyError
from llm_proxy.schemas import ChatCompletionRequest
from llm_proxy.state import ProxyState
from llm_proxy.tokens import estimate_prompt_tokens
from service_kit.asgi import EventStream, send_json

PATH = "/v1/chat/completions"
DESCRIPTION = (
    "Create a chat completion; with ``stream: true`` the answer is SSE ending in ``data: [DONE]``, with "
    "``: keep-alive`` comments while the upstream is silent. A failure once the 200 is out (after the first byte "
    'or the first heartbeat) is one ``data: {"error": …}`` event, and no ``[DONE]``.'
)


def parse_request(raw: bytes) -> ChatCompletionRequest:
    """Validate the JSON body once; values the proxy cannot honour are refused naming their parameter."""
    body = parse_json(ChatCompletionRequest, raw)
    unsupported = body.unsupported()
    if unsupported is not None:
        raise ProxyError("bad_request", unsupported[1], param=unsupported[0], code="unsupported_value")
    return body


class CompletionsEndpoint:
    """The ASGI app of ``POST /v1/chat/completions``; reaches the ``ProxyState`` through ``scope["app"]``."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state: ProxyState = scope["app"].state.proxy
        try:
            raw = await read_request(state, scope, receive)
            if raw is None:
                return  # the client is gone; there is no one to answer
            body = parse_request(raw)
            entry = resolve_model(state, body.model)
        except ProxyError as error:
            await send_error(send, error.scrub(state.secrets))
            return
        prompt_tokens = estimate_prompt_tokens(body)
        if body.stream:
            await _stream(state, scope, receive, send, body, entry, prompt_tokens)
            return
        try:
            opened = await state.dispatcher.open(body, entry, prompt_tokens)
            batches = completion_batches(state, scope, opened, prompt_tokens)
            completion = await fold(CompletionIdentity(opened.entry.name), batches)
        except ProxyError as error:
            await send_error(send, error.scrub(state.secrets))
            return
        await send_json(send, 200, orjson.dumps(completion))


async def _stream(
    state: ProxyState,
    scope: Scope,
    receive: Receive,
    send: Send,
    body: ChatCompletionRequest,
    entry: ModelEntry,
    prompt_tokens: int,
) -> None:
    """The SSE answer. Heartbeats go out while the upstream is silent, before its first byte too: the dispatcher
    keeps retrying and falling back meanwhile, and a failure after the first heartbeat (the 200 is out) becomes
    the stream's one error event."""
    async with EventStream(receive, send, heartbeat=state.settings.heartbeat_interval_s) as stream:
        opened = await open_streamed(state, stream, body, entry, prompt_tokens, ProxyError.body, error_event)
        if opened is None:
            return
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        identity = CompletionIdentity(opened.entry.name)
        batches = completion_batches(state, scope, opened, prompt_tokens)
        await stream.write_all(sse_events(identity, batches, include_usage=include_usage))


def openapi_operation() -> dict[str, Any]:
    """The route's ``post`` operation for the OpenAPI document (FastAPI does not see a raw ASGI route)."""
    schema = {"$ref": "#/components/schemas/ChatCompletionRequest"}
    return {
        "summary": "Chat Completions",
        "description": DESCRIPTION,
        "operationId": "chat_completions_v1_chat_completions_post",
        "requestBody": {"content": {"application/json": {"schema": schema}}, "required": True},
        "responses": {
            "200": {
                "description": "A chat.completion (JSON), or chat.completion.chunk events (SSE) with stream: true",
                "content": {"application/json": {"schema": {}}, "text/event-stream": {"schema": {}}},
            }
        },
    }
