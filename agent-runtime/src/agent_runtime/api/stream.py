"""``POST /agent/message/stream``: one inbound IDE frame in, the turn's chunks out as SSE."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Literal

import orjson
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from agent_runtime.application.turn import Chunk, stream_turn
from service_kit.sse import HEARTBEAT, encode, event_stream_response, with_heartbeats

router = APIRouter()


class UserMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: Literal["user_message"]
    content: str = Field(min_length=1)


class StreamRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    session_id: str | None = None
    message: UserMessage


async def _sse(chunks: AsyncIterator[Chunk]) -> AsyncIterator[bytes]:
    seq = 0
    async for chunk in chunks:
        seq += 1
        yield encode(orjson.dumps(chunk), event_id=seq)


@router.post("/agent/message/stream", response_model=None)
async def message_stream(body: StreamRequest, request: Request) -> Response:
    """Process one IDE frame; the answer is ``text/event-stream`` of flat chunks, each with ``id: <seq>``."""
    state: Any = request.app.state
    session_id = body.session_id or "default"
    turn = stream_turn(state.llm, model=state.settings.llm_model, session_id=session_id, content=body.message.content)
    return event_stream_response(with_heartbeats(_sse(turn), state.settings.heartbeat_interval, HEARTBEAT))
