"""How a front door that renders its own events answers one request, streamed or not: the same dispatch (retries,
fallbacks, heartbeats while the upstream is silent), the same usage ledger, and the same failure rules for every
door — its HTTP status before the first byte, its own failure event after it.

A door supplies a ``Door``: a ``Writer`` factory (neutral deltas → the door's events and final object), its error
body and its pre-start error event. ``stream: false`` is the stream folded by the same writer.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from starlette.types import Receive, Scope, Send

from llm_proxy.catalog import ModelEntry
from llm_proxy.dispatch import OpenedStream
from llm_proxy.doors.common import completion_batches
from llm_proxy.errors import ProxyError
from llm_proxy.providers.base import Batch
from llm_proxy.schemas import ChatCompletionRequest
from llm_proxy.state import ProxyState
from llm_proxy.tokens import estimate_prompt_tokens
from service_kit.asgi import EventStream, send_json


class Writer(Protocol):
    def start(self) -> bytes:
        """The events that open the answer (they leave with the first batch)."""
        ...

    def feed(self, batch: Batch) -> bytes:
        """The events of one batch; raises ``ProxyError`` for a delta it cannot render."""
        ...

    def finish(self) -> tuple[bytes, dict[str, Any]]:
        """The closing events and the whole answer."""
        ...

    def failed(self, error: ProxyError) -> bytes:
        """The stream's last event when it broke after ``start``."""
        ...


class WriterFactory(Protocol):
    def __call__(self, model: str, prompt_tokens: int, /, *, stream: bool) -> Writer:
        """A writer for an answer of ``model`` (the deployment that serves it) to a prompt of ``prompt_tokens``."""
        ...


async def _nothing(writer: Writer, answer: dict[str, Any]) -> None:
    return None


@dataclass(frozen=True, slots=True)
class Door:
    writer: WriterFactory
    error_body: Callable[[ProxyError], bytes]  # an HTTP error's body, in the door's shape
    error_event: Callable[[ProxyError], bytes]  # a failure after a heartbeat sent the 200, before ``start``
    # The answer is whole (e.g. store it): awaited before its last bytes leave, so a client that has them can rely
    # on it.
    finished: Callable[[Writer, dict[str, Any]], Awaitable[None]] = _nothing


async def send_error(send: Send, error: ProxyError, body: Callable[[ProxyError], bytes] = ProxyError.body) -> None:
    """An error answer with its status, its body in the door's shape (the OpenAI envelope by default)."""
    await send_json(send, error.status, body(error), error.headers())


async def open_streamed(
    state: ProxyState,
    events: EventStream,
    chat: ChatCompletionRequest,
    entry: ModelEntry,
    prompt_tokens: int,
    error_body: Callable[[ProxyError], bytes],
    error_event: Callable[[ProxyError], bytes],
) -> OpenedStream | None:
    """The dispatcher's stream for a streamed answer; ``None`` when it failed, the failure sent on ``events``: its
    HTTP status and ``error_body`` while nothing went out, else (a heartbeat sent the 200) ``error_event``."""
    try:
        return await state.dispatcher.open(chat, entry, prompt_tokens)
    except ProxyError as error:
        error.scrub(state.secrets)
        await events.fail(error.status, error_body(error), error.headers(), event=error_event(error))
        return None


async def answer(
    door: Door,
    state: ProxyState,
    scope: Scope,
    receive: Receive,
    send: Send,
    chat: ChatCompletionRequest,
    entry: ModelEntry,
    *,
    stream: bool,
) -> None:
    prompt_tokens = estimate_prompt_tokens(chat)
    if stream:
        async with EventStream(receive, send, heartbeat=state.settings.heartbeat_interval_s) as events:
            opened = await open_streamed(state, events, chat, entry, prompt_tokens, door.error_body, door.error_event)
            if opened is None:
                return
            writer = door.writer(opened.entry.name, prompt_tokens, stream=True)
            batches = completion_batches(state, scope, opened, prompt_tokens)
            await events.write_all(_events(state, door, writer, batches))
        return
    try:
        opened = await state.dispatcher.open(chat, entry, prompt_tokens)
        writer = door.writer(opened.entry.name, prompt_tokens, stream=False)
        batches = completion_batches(state, scope, opened, prompt_tokens)
        try:
            async for batch in batches:
                writer.feed(batch)
        finally:
            await batches.aclose()  # also when the writer refused a delta: the usage is recorded once
        _, whole = writer.finish()
        await door.finished(writer, whole)
    except ProxyError as error:
        await send_error(send, error.scrub(state.secrets), door.error_body)
        return
    await send_json(send, 200, orjson.dumps(whole))


async def _events(
    state: ProxyState, door: Door, writer: Writer, batches: AsyncGenerator[Batch, None]
) -> AsyncGenerator[bytes, None]:
    """The SSE body. The opening events leave with the first batch (already there when the stream opens)."""
    head = writer.start()
    try:
        async for batch in batches:
            data = writer.feed(batch)
            if data:
                if head:
                    data, head = head + data, b""
                yield data
        closing, whole = writer.finish()
        await door.finished(writer, whole)
    except ProxyError as error:
        yield head + writer.failed(error.scrub(state.secrets))
        return
    finally:
        await batches.aclose()
    yield head + closing
