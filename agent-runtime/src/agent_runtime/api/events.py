"""``/events``: metrics, the audit log and the event bus statistics (read from SQL, so every replica agrees)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from agent_runtime.api.dependencies import Events, Subject, Uows
from agent_runtime.application import queries
from agent_runtime.domain.errors import Forbidden

router = APIRouter(prefix="/events", tags=["events"])


@router.get("/metrics")
async def metrics(uows: Uows, subject: Subject) -> dict[str, Any]:
    """Totals: sessions, events by type, token usage."""
    return await queries.metrics(uows, subject=subject)


@router.get("/metrics/sessions")
async def session_metrics(
    uows: Uows, subject: Subject, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> dict[str, Any]:
    """Per-session figures of the caller's sessions (``X-Subject``; all without it), most recently active first."""
    return await queries.session_metrics(uows, limit=limit, subject=subject)


@router.get("/metrics/session/{session_id}")
async def one_session_metrics(session_id: str, uows: Uows, subject: Subject) -> dict[str, Any]:
    """One session's figures; 403 for another subject's session."""
    return await queries.metrics(uows, session_id, subject=subject)


@router.get("/audit-log")
async def audit_log(
    uows: Uows,
    subject: Subject,
    session_id: str | None = None,
    event_type: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """The persisted audit log of the caller's sessions (``X-Subject``; all without it), newest first; filter by
    session (403 for another subject's session) and event type."""
    return await queries.audit_log(uows, session_id=session_id, event_type=event_type, limit=limit, subject=subject)


@router.get("/stats")
async def stats(events: Events, subject: Subject) -> dict[str, Any]:
    """This process's event bus: subscribers, events published, deliveries and failures per subscriber. For
    operators only: process-wide figures are nobody's own, so a call on behalf of a user (``X-Subject``) is 403."""
    if subject is not None:
        raise Forbidden("the event bus statistics are for operators: call the runtime with the internal key")
    return events.stats()
