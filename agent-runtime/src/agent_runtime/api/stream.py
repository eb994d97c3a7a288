"""``POST /agent/message/stream``: one inbound IDE frame in; the chunks of the work it starts out, as SSE.

The frame is handed to the session's run (``RunEngine``), which runs in its own task: the response only follows the
session's live events from the moment of the request until this frame's ``done``, so a client that goes away loses
nothing (the run reaches its stop point; ``GET /sessions/{id}/events?after=N`` replays it). Bad input is refused
before any event: 400 (unknown type, missing or mistyped fields), 403, 404, 409 and 422 (idempotency).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from agent_runtime.api.dependencies import AppSettings, Fanout, RequestId, Runs, Subject, Uows
from agent_runtime.application.fanout import Follower, Item, SessionFanout
from agent_runtime.application.ports import UnitOfWorkFactory
from agent_runtime.runs.engine import Ticket
from agent_runtime.runs.frames import InvalidFrame, UserMessage, parse_frame
from agent_runtime.runs.journal import Origin
from agent_runtime.runs.subscription import replayed_chunks
from service_kit.errors import error_response
from service_kit.sse import HEARTBEAT, encode, event_stream_response, with_heartbeats

router = APIRouter(tags=["stream"])


class StreamRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    session_id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")] | None = None
    message: Any = None


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
    """This request's chunks as SSE bytes until its ``done`` (see ``runs.subscription.ticket_chunks``): the chunks
    already waiting in the queue go out as one write, and ``: keep-alive`` after ``interval`` seconds of silence."""
    queue = follower.queue
    beat = _Heartbeat(queue, interval)
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
                elif ticket.wants(seq):
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


async def _replayed(uows: UnitOfWorkFactory, session_id: str, ticket: Ticket) -> AsyncIterator[bytes]:
    async for seq, data in replayed_chunks(uows, session_id, ticket):
        yield encode(data, event_id=seq)


async def _sse(
    fanout: SessionFanout,
    follower: Follower,
    uows: UnitOfWorkFactory,
    session_id: str,
    ticket: Ticket,
    interval: float,
) -> AsyncIterator[bytes]:
    try:
        if ticket.replay:
            source = with_heartbeats(_replayed(uows, session_id, ticket), interval, HEARTBEAT)
        else:
            source = ticket_frames(follower, ticket, interval)
        async for frames in source:
            yield frames
    finally:
        fanout.leave(session_id, follower)


@router.post("/agent/message/stream", response_model=None)
async def message_stream(
    body: StreamRequest,
    runs: Runs,
    fanout: Fanout,
    uows: Uows,
    settings: AppSettings,
    subject: Subject,
    request_id: RequestId,
) -> Response:
    """Process one IDE frame (``user_message``, ``tool_result``, ``switch_agent``, ``hitl_decision``,
    ``plan_decision``, ``cancel``). The answer is ``text/event-stream``: ``id: <seq>`` + ``data: <chunk>``, heartbeats
    while the model thinks, ending with this frame's ``done``. A null ``session_id`` creates a session (first chunk
    ``session_info``); an unknown id is created by a ``user_message`` and is 404 for other frames."""
    try:
        frame = parse_frame(body.message)
        runs.check(frame)
    except InvalidFrame as exc:
        return error_response(400, exc.message, code="invalid_message", param=exc.param)
    session_id = body.session_id or uuid.uuid4().hex
    follower = fanout.follow(session_id)
    try:
        create = body.session_id is None or isinstance(frame, UserMessage)
        origin = Origin(subject, request_id)
        await runs.open_session(session_id, origin, announce=body.session_id is None, create=create)
        ticket = await runs.submit(session_id, frame, origin)
    except InvalidFrame as exc:
        fanout.leave(session_id, follower)
        return error_response(400, exc.message, code="invalid_message", param=exc.param)
    except BaseException:
        fanout.leave(session_id, follower)
        raise  # domain errors become 403/404/409/422 in the one exception handler
    return event_stream_response(_sse(fanout, follower, uows, session_id, ticket, settings.heartbeat_interval))
