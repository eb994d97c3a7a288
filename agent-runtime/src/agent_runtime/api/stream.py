"""``POST /agent/message/stream``: one inbound IDE frame in, the turn's chunks out as SSE (``id: <seq>``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from agent_runtime.api.dependencies import AppSettings, RequestId, Subject, Turns, Uows
from agent_runtime.application.queries import check_session
from agent_runtime.application.turn import TurnHandle
from service_kit.errors import error_response
from service_kit.sse import HEARTBEAT, encode, event_stream_response, with_heartbeats

router = APIRouter(tags=["stream"])

IDE_FRAME_TYPES = frozenset({"user_message", "tool_result", "switch_agent", "hitl_decision", "plan_decision"})
_DONE_PREFIX = b'{"type":"done"'


class StreamRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    session_id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")] | None = None
    message: dict[str, Any]


def _invalid(message: str, param: str, code: str = "invalid_message") -> Response:
    return error_response(400, message, code=code, param=param)


async def _follow(handle: TurnHandle) -> AsyncIterator[bytes]:
    """This turn's chunks, ending after its ``done`` (or when the reader fell too far behind)."""
    follower = await handle.ready
    while True:
        seq, data = await follower.queue.get()
        if seq < 0:
            return
        yield encode(data, event_id=seq)
        if data.startswith(_DONE_PREFIX):
            return


@router.post("/agent/message/stream", response_model=None)
async def message_stream(
    body: StreamRequest, turns: Turns, uows: Uows, settings: AppSettings, subject: Subject, request_id: RequestId
) -> Response:
    """Process one IDE frame; the answer is ``text/event-stream`` of flat chunks. A null ``session_id`` creates
    a session (first chunk ``session_info``); an unknown id is created on first use. Bad input is refused
    before any event."""
    frame = body.message
    kind = frame.get("type")
    if not isinstance(kind, str) or kind not in IDE_FRAME_TYPES:
        return _invalid(f"unknown message type {kind!r}", "message.type")
    if kind != "user_message":
        # tool results, decisions and switches continue a run: the agent loop (issue 5) handles them here.
        return _invalid(f"message type {kind!r} is not supported yet", "message.type", "unsupported_message_type")
    content = frame.get("content")
    if not isinstance(content, str) or not content.strip():
        return _invalid("message.content must be a non-empty string", "message.content")
    if body.session_id is not None:
        await check_session(uows, body.session_id, subject=subject)  # 403 before streaming
    handle = turns.start(session_id=body.session_id, content=content, subject=subject, correlation_id=request_id)
    return event_stream_response(with_heartbeats(_follow(handle), settings.heartbeat_interval, HEARTBEAT))
