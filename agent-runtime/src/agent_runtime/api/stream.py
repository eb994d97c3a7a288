"""``POST /agent/message/stream``: one inbound IDE frame in; the chunks of the work it starts out, as SSE.

The frame is handed to the session's run (``RunEngine``), which runs in its own task: the response only follows the
session's live events from the moment of the request until this frame's ``done``, so a client that goes away loses
nothing (the run reaches its stop point; ``GET /sessions/{id}/events?after=N`` replays it). Bad input is refused
before any event: 400 (not JSON, unknown type, missing or mistyped fields), 403, 404, 409, 413 (body over
``max_request_bytes``) and 422 (idempotency). Every turn comes through here, so it is a raw ASGI endpoint behind
the user middleware (``service_kit.asgi.HotPathApp``), not a FastAPI route.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import orjson
from starlette.types import Receive, Scope, Send

from agent_runtime.api.errors import domain_status
from agent_runtime.application.command_bus import Origin
from agent_runtime.application.fanout import Follower, Item, SessionFanout
from agent_runtime.application.ports import UnitOfWorkFactory
from agent_runtime.domain.client_tools import ClientTools
from agent_runtime.domain.errors import DomainError
from agent_runtime.domain.session import SESSION_ID_LENGTH, SESSION_ID_PATTERN, SESSION_ID_RULE, is_session_id
from agent_runtime.runs.client_tools import parse_client_tools
from agent_runtime.runs.engine import RunEngine, Ticket
from agent_runtime.runs.frames import Frame, InvalidFrame, UserMessage, parse_frame
from agent_runtime.runs.subscription import replayed_chunks
from agent_runtime.settings import Settings
from service_kit.asgi import BodyTooLarge, read_body, send_error, send_event_stream
from service_kit.middleware import header
from service_kit.sse import HEARTBEAT, encode, with_heartbeats
from service_kit.subject import MAX_ENCODED_SUBJECT, InvalidSubject, decode_subject

_BEAT = -2  # the seq of a heartbeat item in the follower's queue (below -1, the fan-out's "stop")


class _Heartbeat:
    """Puts a heartbeat item into the follower's queue after ``interval`` seconds without output: one timer per
    response instead of a task and a wait per chunk; the reader only notes the time of each write."""

    def __init__(self, queue: asyncio.Queue[Item], interval: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue = queue
        self._interval = interval
        self.last = self._loop.time()
        self._timer = self._loop.call_later(interval, self._fire)

    def _fire(self) -> None:
        now = self._loop.time()
        due = self.last + self._interval
        if now >= due:
            with contextlib.suppress(asyncio.QueueFull):  # a full queue is no idle stream
                self._queue.put_nowait((_BEAT, b""))
            self.last, due = now, now + self._interval
        self._timer = self._loop.call_later(due - now, self._fire)

    def note(self) -> None:
        """Output went out now."""
        self.last = self._loop.time()

    def stop(self) -> None:
        self._timer.cancel()


async def ticket_frames(follower: Follower, ticket: Ticket, interval: float) -> AsyncIterator[bytes]:
    """This request's chunks as SSE bytes until its ``done`` (or until the follower fell too far behind), skipping
    what ``ticket.wants`` filters out (work queued ahead of it): the chunks already waiting in the queue go out as
    one write, and ``: keep-alive`` after ``interval`` seconds of silence."""
    queue = follower.queue
    beat = _Heartbeat(queue, interval)
    seen = -1  # the last seq that came through the queue

    def resolved(done: asyncio.Future[int]) -> None:
        # Resolved after its done went by (a turn another replica finished, ``RunEngine._left_to_new_owner``): end.
        if not done.cancelled() and done.result() <= seen:
            with contextlib.suppress(asyncio.QueueFull):  # a full queue brings the next chunk, past the done
                queue.put_nowait((-1, b""))

    ticket.done.add_done_callback(resolved)
    try:
        while True:
            seq, data = await queue.get()
            parts: list[bytes] = []
            while True:
                if seq == _BEAT:
                    parts.append(HEARTBEAT)
                elif seq < 0:
                    if parts:
                        yield b"".join(parts)
                    return
                else:
                    seen = seq
                    if ticket.wants(seq):
                        parts.append(encode(data, event_id=seq))
                        if ticket.done.done() and seq >= ticket.done.result():
                            yield b"".join(parts)
                            return
                if queue.empty():
                    break
                seq, data = queue.get_nowait()
            if parts:
                beat.note()
                yield b"".join(parts)
    finally:
        beat.stop()
        ticket.done.remove_done_callback(resolved)


async def _replayed(uows: UnitOfWorkFactory, session_id: str, ticket: Ticket) -> AsyncIterator[bytes]:
    async for seq, data in replayed_chunks(uows, session_id, ticket):
        yield encode(data, event_id=seq)


async def response_frames(
    fanout: SessionFanout,
    follower: Follower,
    uows: UnitOfWorkFactory,
    session_id: str,
    ticket: Ticket,
    interval: float,
) -> AsyncGenerator[bytes, None]:
    """The SSE body of one request: its chunks live until its ``done``, or its logged answer replayed (an
    idempotent repeat, or a frame another replica answered); the follower leaves the session's fan-out at the end."""
    try:
        if not ticket.replay:
            async for frames in ticket_frames(follower, ticket, interval):
                yield frames
        if ticket.replay:  # also when another replica ran the frame while it waited (``RunEngine._ran_elsewhere``)
            async for frames in with_heartbeats(_replayed(uows, session_id, ticket), interval, HEARTBEAT):
                yield frames
    finally:
        fanout.leave(session_id, follower)


PATH = "/agent/message/stream"


def _parse(raw: bytes) -> tuple[str | None, Frame, ClientTools | None]:
    """The request's session id, frame and the client's tool declaration; ``InvalidFrame`` (400) names what is
    wrong."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidFrame("the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise InvalidFrame("the request body must be a JSON object")
    session_id = body.get("session_id")
    if session_id is not None and not is_session_id(session_id):
        raise InvalidFrame(f"'session_id' must be {SESSION_ID_RULE}", "session_id")
    message = body.get("message")
    return session_id, parse_frame(message), parse_client_tools(message)


def _subject(scope: Scope) -> str | None:
    """The IDE user's subject, set by the gateway; absent = no owner checks (contracts.md)."""
    try:
        return decode_subject(header(scope, b"x-subject"))
    except InvalidSubject as exc:
        raise InvalidFrame(f"X-Subject: {exc}", "X-Subject") from None


async def message_stream(scope: Scope, receive: Receive, send: Send) -> None:
    """Process one IDE frame (``user_message``, ``tool_result``, ``switch_agent``, ``hitl_decision``,
    ``plan_decision``, ``cancel``); a raw ASGI endpoint (``service_kit.asgi.HotPathApp``): every turn comes
    through here. The answer is ``text/event-stream``: ``id: <seq>`` + ``data: <chunk>``, heartbeats while the
    model thinks, ending with this frame's ``done``. A null ``session_id`` creates a session (first chunk
    ``session_info``); an unknown id is created by a ``user_message`` from a caller without ``X-Subject`` and is 404
    otherwise."""
    state = scope["app"].state
    runs: RunEngine = state.runs
    fanout: SessionFanout = state.fanout
    settings: Settings = state.settings
    try:
        raw = await read_body(scope, receive, settings.max_request_bytes)
        if raw is None:
            return  # the client is gone; there is no one to answer
        session_id, frame, client_tools = _parse(raw)
        runs.check(frame)
        origin = Origin(_subject(scope), scope.get("state", {}).get("request_id"), client_tools)
    except BodyTooLarge as exc:
        await send_error(send, 413, str(exc), code="request_too_large")
        return
    except InvalidFrame as exc:
        await send_error(send, 400, exc.message, code="invalid_message", param=exc.param)
        return
    announce = session_id is None
    session_id = session_id or uuid.uuid4().hex
    follower = fanout.follow(session_id)
    try:
        # A caller with a subject gets server-made ids only (a null session_id): a chosen id could squat a name.
        create = announce or (isinstance(frame, UserMessage) and origin.subject is None)
        await runs.open_session(session_id, origin, announce=announce, create=create)
        ticket = await runs.submit(session_id, frame, origin)
    except (InvalidFrame, DomainError) as exc:
        fanout.leave(session_id, follower)
        if isinstance(exc, InvalidFrame):
            await send_error(send, 400, exc.message, code="invalid_message", param=exc.param)
        else:
            await send_error(send, domain_status(exc), exc.message, code=exc.code)
        return
    except BaseException:
        fanout.leave(session_id, follower)
        raise
    events = response_frames(fanout, follower, state.uows, session_id, ticket, settings.heartbeat_interval)
    await send_event_stream(receive, send, events)


_ERROR = {"$ref": "#/components/schemas/ErrorEnvelope"}


_REQUEST = {
    "type": "object",
    "properties": {
        "session_id": {
            "anyOf": [
                {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": SESSION_ID_LENGTH,
                    "pattern": SESSION_ID_PATTERN.pattern,
                },
                {"type": "null"},
            ]
        },
        "message": {
            "type": "object",
            "description": "The IDE frame (doc/contracts.md), optionally with the client's tool declaration",
            "properties": {
                "client_tools": {
                    "type": "array",
                    "items": {"type": "string"},
                    "maxItems": 64,
                    "description": "The tools this client executes; the session remembers the latest",
                },
                "client_tools_options": {
                    "type": "object",
                    "properties": {"excludes_secrets": {"type": "boolean"}},
                },
            },
        },
    },
}


def openapi_operation() -> dict[str, Any]:
    """The route's ``post`` operation for the OpenAPI document (FastAPI does not see a raw ASGI route)."""
    errors = {
        "400": "Not JSON, an unknown frame type, a missing or mistyped field, or an unknown agent_type",
        "403": "The session belongs to another subject",
        "404": "Unknown or deleted session (frames other than user_message)",
        "409": "Conflict with the session's state",
        "413": "The request body is over AGENT_RUNTIME__MAX_REQUEST_BYTES",
        "422": "A client_message_id reused with other content",
    }
    responses: dict[str, Any] = {
        "200": {"description": "The chunks of this frame's work as SSE", "content": {"text/event-stream": {}}}
    }
    for status, description in errors.items():
        responses[status] = {"description": description, "content": {"application/json": {"schema": _ERROR}}}
    return {
        "summary": "Message Stream",
        "description": (message_stream.__doc__ or "").split(";")[0],
        "operationId": "message_stream_agent_message_stream_post",
        "tags": ["stream"],
        "parameters": [
            {
                "name": "X-Subject",
                "in": "header",
                "required": False,
                "description": "The caller's subject, percent-encoded UTF-8",
                "schema": {"type": "string", "maxLength": MAX_ENCODED_SUBJECT},
            }
        ],
        "requestBody": {"content": {"application/json": {"schema": _REQUEST}}, "required": True},
        "responses": responses,
    }


OPENAPI_SCHEMAS: dict[str, Any] = {
    "ErrorEnvelope": {
        "type": "object",
        "properties": {"error": {"type": "object", "properties": {"message": {"type": "string"}}}},
        "required": ["error"],
    }
}
