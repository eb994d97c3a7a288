"""``POST /agent/message/stream``: one inbound IDE frame in; the chunks of the work it starts out, as SSE.

The frame is handed to the session's run (``RunEngine``), which runs in its own task: the response only follows the
session's live events from the moment of the request until this frame's ``done``, so a client that goes away loses
nothing (the run reaches its stop point; ``GET /sessions/{id}/events?after=N`` replays it). Bad input is refused
before any event: 400 (unknown type, missing or mistyped fields), 403, 404, 409 and 422 (idempotency).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from agent_runtime.api.dependencies import AppSettings, Fanout, RequestId, Runs, Subject, Uows
from agent_runtime.application.fanout import Follower, SessionFanout
from agent_runtime.application.ports import UnitOfWorkFactory
from agent_runtime.runs.engine import Ticket
from agent_runtime.runs.frames import InvalidFrame, UserMessage, parse_frame
from agent_runtime.runs.journal import Origin
from agent_runtime.runs.subscription import replayed_chunks, ticket_chunks
from service_kit.errors import error_response
from service_kit.sse import HEARTBEAT, encode, event_stream_response, with_heartbeats

router = APIRouter(tags=["stream"])


class StreamRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    session_id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")] | None = None
    message: Any = None


async def _sse(
    fanout: SessionFanout, follower: Follower, uows: UnitOfWorkFactory, session_id: str, ticket: Ticket
) -> AsyncIterator[bytes]:
    try:
        source = replayed_chunks(uows, session_id, ticket) if ticket.replay else ticket_chunks(follower, ticket)
        async for seq, data in source:
            yield encode(data, event_id=seq)
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
    events = _sse(fanout, follower, uows, session_id, ticket)
    return event_stream_response(with_heartbeats(events, settings.heartbeat_interval, HEARTBEAT))
