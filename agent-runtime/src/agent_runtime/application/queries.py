"""The read side: plain async functions over a read-only unit of work, returning view models."""

from __future__ import annotations

import contextlib

from agent_runtime.application.ports import LoggedEvent, UnitOfWork, UnitOfWorkFactory
from agent_runtime.application.views import (
    View,
    agent_history_view,
    approval_view,
    iso,
    session_view,
    tool_call_view,
)
from agent_runtime.domain.errors import NotFound
from agent_runtime.domain.session import Session


async def _owned(uow: UnitOfWork, session_id: str, subject: str | None) -> Session:
    session = await uow.sessions.get(session_id)
    if session is None:
        raise NotFound(f"session {session_id} not found")
    session.check_access(subject)
    return session


async def list_sessions(
    uows: UnitOfWorkFactory, *, subject: str | None, active_only: bool, limit: int, offset: int
) -> View:
    async with uows(write=False) as uow:
        page = await uow.sessions.page(owner=subject, active_only=active_only, limit=limit, offset=offset)
    return {"sessions": [session_view(s) for s in page.sessions], "total": page.total, "limit": limit, "offset": offset}


async def get_session(uows: UnitOfWorkFactory, session_id: str, *, subject: str | None) -> View:
    async with uows(write=False) as uow:
        return session_view(await _owned(uow, session_id, subject))


async def check_session(uows: UnitOfWorkFactory, session_id: str, *, subject: str | None) -> Session | None:
    """The session if it exists and the subject may use it; None if absent. Raises NotFound for a foreign one."""
    async with uows(write=False) as uow:
        session = await uow.sessions.get(session_id)
    if session is not None:
        session.check_access(subject)
    return session


async def history(uows: UnitOfWorkFactory, session_id: str, *, subject: str | None) -> View:
    async with uows(write=False) as uow:
        session = await _owned(uow, session_id, subject)
        messages = await uow.messages.history(session_id)
        context = await uow.agents.get(session)
    return {
        "session_id": session.id,
        "messages": [m.to_openai() for m in messages],
        "message_count": session.message_count,
        "last_activity": iso(session.last_activity),
        "current_agent": session.current_agent,
        "agent_history": agent_history_view(context),
    }


async def openai_history(uows: UnitOfWorkFactory, session_id: str) -> list[dict[str, object]]:
    """The conversation as the model sees it (the turn has already checked access)."""
    async with uows(write=False) as uow:
        return [m.to_openai() for m in await uow.messages.history(session_id)]


async def pending_approvals(uows: UnitOfWorkFactory, session_id: str, *, subject: str | None) -> View:
    async with uows(write=False) as uow:
        await _owned(uow, session_id, subject)
        items = [approval_view(a) for a in await uow.approvals.pending(session_id)]
    return {"session_id": session_id, "pending_approvals": items, "count": len(items)}


async def outstanding_tool_calls(uows: UnitOfWorkFactory, session_id: str, *, subject: str | None) -> View:
    """The calls waiting for the client, and the session's owner (the gateway's probe before a socket opens: a
    socket without credentials acts as the owner of the session it names)."""
    async with uows(write=False) as uow:
        session = await _owned(uow, session_id, subject)
        calls = [tool_call_view(c) for c in await uow.tool_calls.outstanding(session_id)]
    return {"session_id": session_id, "owner": session.owner, "tool_calls": calls}


async def current_agent(uows: UnitOfWorkFactory, session_id: str, *, subject: str | None) -> View:
    async with uows(write=False) as uow:
        session = await _owned(uow, session_id, subject)
        context = await uow.agents.get(session)
    return {
        "session_id": session.id,
        "current_agent": context.current_agent,
        "switch_count": len(context.switches),
        "agent_history": agent_history_view(context),
    }


async def events_after(uows: UnitOfWorkFactory, session_id: str, seq: int, limit: int) -> list[LoggedEvent]:
    async with uows(write=False) as uow:
        return await uow.events.after(session_id, seq, limit)


async def metrics(uows: UnitOfWorkFactory, session_id: str | None = None, *, subject: str | None = None) -> View:
    async with uows(write=False) as uow:
        if session_id is not None:
            session = await _owned(uow, session_id, subject)
            totals = await uow.records.totals(session_id)
            return {"session_id": session_id, "message_count": session.message_count, **totals}
        totals = await uow.records.totals(owner=subject)
        page = await uow.sessions.page(owner=subject, active_only=False, limit=1, offset=0)
        active = await uow.sessions.page(owner=subject, active_only=True, limit=1, offset=0)
    return {"sessions": {"total": page.total, "active": active.total}, **totals}


async def session_metrics(uows: UnitOfWorkFactory, *, limit: int, subject: str | None) -> View:
    """Per-session figures of the subject's sessions (every session without a subject)."""
    async with uows(write=False) as uow:
        items = await uow.records.per_session(limit, owner=subject)
    return {"sessions": items, "count": len(items)}


async def audit_log(
    uows: UnitOfWorkFactory, *, session_id: str | None, event_type: str | None, limit: int, subject: str | None
) -> View:
    """The subject's audit entries (all without a subject). Another subject's session answers like a missing one:
    no entries."""
    async with uows(write=False) as uow:
        owner = subject
        if session_id is not None:
            session = await uow.sessions.get(session_id)
            with contextlib.suppress(NotFound):  # another's session: filtered by the subject, nothing is listed
                if session is not None:
                    session.check_access(subject)
                    owner = None  # the session may be used by the subject (also when it has no owner)
        entries = await uow.records.audit(session_id=session_id, event_type=event_type, limit=limit, owner=owner)
    items = [
        {
            "event_type": e.event_type,
            "category": e.category,
            "session_id": e.session_id,
            "payload": e.payload,
            "correlation_id": e.correlation_id,
            "causation_id": e.causation_id,
            "timestamp": iso(e.created_at),
        }
        for e in entries
    ]
    return {"events": items, "count": len(items)}
