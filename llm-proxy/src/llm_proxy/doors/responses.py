"""``POST /v1/responses`` (OpenAI Responses API) as a raw ASGI endpoint, streaming and not.

The request becomes the neutral chat request (``responses_request``), goes through the same dispatcher (retries,
fallbacks, cooldowns, timeouts, heartbeats) and usage ledger as every door, and the neutral deltas come back as a
response (``responses_events``). Failures before the first byte keep their HTTP status in the OpenAI error envelope.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import orjson
from starlette.types import Receive, Scope, Send

from llm_proxy.doors.common import caller_id, completion_batches, read_request, resolve_model
from llm_proxy.doors.responses_events import ResponseWriter, envelope, error_event, new_id
from llm_proxy.doors.responses_request import (
    ResponsesRequest,
    chat_request,
    custom_tool_names,
    parse_responses_request,
)
from llm_proxy.errors import ProxyError
from llm_proxy.providers.base import Batch
from llm_proxy.schemas import ChatMessage
from llm_proxy.state import ProxyState
from llm_proxy.tokens import estimate_prompt_tokens
from service_kit.asgi import EventStream, send_json

PATH = "/v1/responses"
DESCRIPTION = (
    "Create a model response (OpenAI Responses API). With ``stream: true`` the answer is SSE events with "
    "sequence numbers ending in ``response.completed`` (or ``response.incomplete``/``response.failed``), with "
    "``: keep-alive`` comments while the upstream is silent."
)


async def send_error(send: Send, error: ProxyError) -> None:
    await send_json(send, error.status, error.body(), error.headers())


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
                history = list(state.responses.get(caller, body.previous_response_id).conversation)
            ignore = state.settings.responses_unsupported_tools == "ignore"
            chat, conversation = chat_request(body, history, ignore_unsupported_tools=ignore)
            entry = resolve_model(state, body.model)
        except ProxyError as error:
            await send_error(send, error.scrub(state.secrets))
            return
        prompt_tokens = estimate_prompt_tokens(chat)
        turn = _Turn(state, scope, caller, body, conversation)
        if body.stream:
            async with EventStream(receive, send, heartbeat=state.settings.heartbeat_interval_s) as stream:
                try:
                    opened = await state.dispatcher.open(chat, entry, prompt_tokens)
                except ProxyError as error:
                    error.scrub(state.secrets)
                    await stream.fail(error.status, error.body(), error.headers(), event=error_event(error))
                    return
                writer = turn.writer(opened.entry.name, stream=True)
                await stream.write_all(turn.events(writer, completion_batches(state, scope, opened, prompt_tokens)))
            return
        try:
            opened = await state.dispatcher.open(chat, entry, prompt_tokens)
            writer = turn.writer(opened.entry.name, stream=False)
            async for batch in completion_batches(state, scope, opened, prompt_tokens):
                writer.feed(batch)
        except ProxyError as error:
            await send_error(send, error.scrub(state.secrets))
            return
        await send_json(send, 200, orjson.dumps(turn.finished(writer)))


class _Turn:
    """One request's response: its id, its writer, and storing it once it is whole."""

    def __init__(
        self, state: ProxyState, scope: Scope, caller: str, body: ResponsesRequest, conversation: list[ChatMessage]
    ) -> None:
        self._state = state
        self._caller = caller
        self._body = body
        self._conversation = conversation
        self.id = new_id("resp")

    def writer(self, model: str, *, stream: bool) -> ResponseWriter:
        custom = custom_tool_names(self._body.tools)
        return ResponseWriter(envelope(self.id, model, self._body), stream=stream, custom_tools=custom)

    async def events(self, writer: ResponseWriter, batches: AsyncGenerator[Batch, None]) -> AsyncGenerator[bytes, None]:
        """The SSE body. ``response.created`` leaves with the first batch (already there when the stream opens)."""
        head = writer.start()
        try:
            async for batch in batches:
                data = writer.feed(batch)
                if data:
                    if head:
                        data, head = head + data, b""
                    yield data
            closing = self.finished_events(writer)
        except ProxyError as error:
            yield head + writer.failed(error.scrub(self._state.secrets))
            return
        finally:
            await batches.aclose()
        yield head + closing

    def finished_events(self, writer: ResponseWriter) -> bytes:
        events, response = writer.finish()
        self._store(writer, response)
        return events

    def finished(self, writer: ResponseWriter) -> dict[str, Any]:
        _, response = writer.finish()
        self._store(writer, response)
        return response

    def _store(self, writer: ResponseWriter, response: dict[str, Any]) -> None:
        if self._body.stored:
            conversation = [*self._conversation, writer.assistant_message()]
            self._state.responses.put(self._caller, self.id, conversation, response)


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
