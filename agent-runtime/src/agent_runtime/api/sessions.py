"""``/sessions``: the sessions the IDE lists, restores and manages (ide-protocol.md §5)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from agent_runtime.api.dependencies import (
    MAX_SQL_INTEGER,
    AppSettings,
    Commands,
    Fanout,
    RequestId,
    Subject,
    Uows,
)
from agent_runtime.application import queries
from agent_runtime.application.command_bus import new_id
from agent_runtime.application.commands import CreateSession, DeleteSession, RenameSession
from agent_runtime.application.replay import replay_and_follow
from agent_runtime.application.views import session_view
from agent_runtime.domain.errors import NotFound, RuleViolation
from agent_runtime.domain.session import SESSION_ID_LENGTH, SESSION_ID_PATTERN
from service_kit.sse import HEARTBEAT, encode, event_stream_response, with_heartbeats

router = APIRouter(prefix="/sessions", tags=["sessions"])
SessionId = Annotated[str, Field(min_length=1, max_length=SESSION_ID_LENGTH, pattern=SESSION_ID_PATTERN.pattern)]


class NewSession(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: SessionId | None = Field(None, description="Choose the id; default: a new random id.")
    session_id: SessionId | None = Field(None, description="Alias of ``id``.")
    title: str | None = Field(None, max_length=200)


class SessionPatch(BaseModel):
    title: str = Field(min_length=1, max_length=200)


@router.post("", status_code=201)
async def create_session(
    commands: Commands, subject: Subject, request_id: RequestId, body: Annotated[NewSession | None, Body()] = None
) -> dict[str, Any]:
    """Create a session (the IDE posts no body) with a random id; answers the flat session. Only a caller without
    ``X-Subject`` (an internal tool, development) may choose the id (409 if it exists): a user could otherwise
    squat a name another user's client will ask for."""
    body = body or NewSession()
    chosen = body.id or body.session_id
    if chosen is not None and subject is not None:
        raise RuleViolation("session ids are chosen by the server; post no id", code="session_id_not_allowed")
    command = CreateSession(session_id=chosen or new_id(), title=body.title, subject=subject)
    return session_view(await commands.execute(command, correlation_id=request_id))


@router.get("")
async def list_sessions(
    uows: Uows,
    subject: Subject,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_SQL_INTEGER)] = 0,
    active_only: bool = False,
) -> dict[str, Any]:
    """The caller's sessions, most recently active first, with the real ``total``."""
    return await queries.list_sessions(uows, subject=subject, active_only=active_only, limit=limit, offset=offset)


@router.get("/{session_id}")
async def get_session(session_id: str, uows: Uows, subject: Subject) -> dict[str, Any]:
    """The flat session, or 404."""
    return await queries.get_session(uows, session_id, subject=subject)


@router.patch("/{session_id}")
async def rename_session(
    session_id: str, body: SessionPatch, commands: Commands, subject: Subject, request_id: RequestId
) -> dict[str, Any]:
    command = RenameSession(session_id=session_id, title=body.title, subject=subject)
    return session_view(await commands.execute(command, correlation_id=request_id))


@router.delete("/{session_id}")
async def delete_session(
    session_id: str, commands: Commands, subject: Subject, request_id: RequestId
) -> dict[str, Any]:
    """Soft delete: the session disappears from the API; its rows stay for the audit trail."""
    await commands.execute(DeleteSession(session_id=session_id, subject=subject), correlation_id=request_id)
    return {"id": session_id, "deleted": True}


@router.get("/{session_id}/history")
async def history(session_id: str, uows: Uows, subject: Subject) -> dict[str, Any]:
    """The conversation in OpenAI form, with the agent history."""
    return await queries.history(uows, session_id, subject=subject)


@router.get("/{session_id}/pending-approvals")
async def pending_approvals(session_id: str, uows: Uows, subject: Subject) -> dict[str, Any]:
    """Undecided approvals; every item has a string ``tool_name`` (plans: ``create_plan``)."""
    return await queries.pending_approvals(uows, session_id, subject=subject)


@router.get("/{session_id}/outstanding-tool-calls")
async def outstanding_tool_calls(session_id: str, uows: Uows, subject: Subject) -> dict[str, Any]:
    """Tool calls handed to the IDE that have no result yet."""
    return await queries.outstanding_tool_calls(uows, session_id, subject=subject)


@router.get("/{session_id}/events", response_model=None)
async def session_events(
    session_id: str,
    uows: Uows,
    fanout: Fanout,
    settings: AppSettings,
    subject: Subject,
    after: Annotated[int | None, Query(ge=0, le=MAX_SQL_INTEGER)] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> Response:
    """SSE: the log after ``after`` (or ``Last-Event-ID``), then the session's live events, with heartbeats.
    Stays open until the client leaves."""
    if await queries.check_session(uows, session_id, subject=subject) is None:
        raise NotFound(f"session {session_id} not found")
    start = after if after is not None else _parse_last_event_id(last_event_id)

    async def body() -> Any:
        async for seq, data in replay_and_follow(uows, fanout, session_id, start):
            yield encode(data, event_id=seq)

    return event_stream_response(with_heartbeats(body(), settings.heartbeat_interval, HEARTBEAT))


def _parse_last_event_id(value: str | None) -> int:
    if value is None or not value.strip():
        return 0
    try:
        seq = max(0, int(value.strip()))
    except ValueError:
        raise RuleViolation("Last-Event-ID must be an integer seq", code="invalid_last_event_id") from None
    if seq > MAX_SQL_INTEGER:
        raise RuleViolation(f"Last-Event-ID must be at most {MAX_SQL_INTEGER}", code="invalid_last_event_id")
    return seq
