"""The audit log and the usage table, and the aggregates the metrics endpoints read from them (SQL, so every
replica reports the same numbers)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, func, insert, select

from agent_runtime.application.ports import AuditEntry, UsageEntry
from agent_runtime.infrastructure import tables as t
from agent_runtime.infrastructure.loop_sqlite import SqlConnection, prepared
from agent_runtime.infrastructure.session_store import utc

# Built once (see session_store): every turn writes audit rows and a usage row.
_INSERT_AUDIT = prepared(insert(t.audit_log))
_INSERT_USAGE = prepared(insert(t.usage))


class SqlAlchemyRecordRepository:
    def __init__(self, connection: SqlConnection) -> None:
        self._db = connection

    async def add_audit(self, entries: Sequence[AuditEntry]) -> None:
        if entries:
            await self._db.execute(
                _INSERT_AUDIT,
                [
                    {
                        "session_id": e.session_id,
                        "event_type": e.event_type,
                        "category": e.category,
                        "payload": e.payload,
                        "correlation_id": e.correlation_id,
                        "causation_id": e.causation_id,
                        "created_at": e.created_at,
                    }
                    for e in entries
                ],
            )

    async def audit(
        self, *, session_id: str | None, event_type: str | None, limit: int, owner: str | None = None
    ) -> list[AuditEntry]:
        query = select(t.audit_log).order_by(t.audit_log.c.id.desc()).limit(limit)
        if owner is not None:
            query = query.where(t.audit_log.c.session_id.in_(_owned_by(owner)))
        if session_id is not None:
            query = query.where(t.audit_log.c.session_id == session_id)
        if event_type is not None:
            query = query.where(t.audit_log.c.event_type == event_type)
        return [
            AuditEntry(
                r.event_type, r.category, r.session_id, r.payload, r.correlation_id, r.causation_id, utc(r.created_at)
            )
            for r in (await self._db.execute(query)).all()
        ]

    async def add_usage(self, entry: UsageEntry) -> None:
        row = {
            "session_id": entry.session_id,
            "model": entry.model,
            "prompt_tokens": entry.prompt_tokens,
            "completion_tokens": entry.completion_tokens,
            "total_tokens": entry.total_tokens,
            "duration_ms": entry.duration_ms,
            "created_at": entry.created_at,
        }
        await self._db.execute(_INSERT_USAGE, row)

    async def totals(self, session_id: str | None = None, *, owner: str | None = None) -> dict[str, Any]:
        """Event counts by type, and token usage, for one session or all (of ``owner``)."""
        events = select(t.audit_log.c.event_type, func.count()).group_by(t.audit_log.c.event_type)
        used = select(
            func.count(),
            func.coalesce(func.sum(t.usage.c.prompt_tokens), 0),
            func.coalesce(func.sum(t.usage.c.completion_tokens), 0),
            func.coalesce(func.sum(t.usage.c.total_tokens), 0),
            func.coalesce(func.sum(t.usage.c.duration_ms), 0),
        )
        if session_id is not None:
            events = events.where(t.audit_log.c.session_id == session_id)
            used = used.where(t.usage.c.session_id == session_id)
        if owner is not None:
            events = events.where(t.audit_log.c.session_id.in_(_owned_by(owner)))
            used = used.where(t.usage.c.session_id.in_(_owned_by(owner)))
        rows: list[Any] = list((await self._db.execute(events)).all())
        by_type = {row[0]: int(row[1]) for row in rows}
        sums: Any = (await self._db.execute(used)).one()
        calls, prompt, completion, total, duration = sums
        return {
            "total_events": sum(by_type.values()),
            "events_by_type": by_type,
            "usage": {
                "llm_calls": int(calls),
                "prompt_tokens": int(prompt),
                "completion_tokens": int(completion),
                "total_tokens": int(total),
                "duration_ms": int(duration),
            },
        }

    async def per_session(self, limit: int, *, owner: str | None = None) -> list[dict[str, Any]]:
        query = (
            select(
                t.sessions.c.id,
                t.sessions.c.message_count,
                t.sessions.c.current_agent,
                t.sessions.c.last_activity,
                t.sessions.c.is_active,
                select(func.coalesce(func.sum(t.usage.c.total_tokens), 0))
                .where(t.usage.c.session_id == t.sessions.c.id)
                .scalar_subquery()
                .label("total_tokens"),
            )
            .where(t.sessions.c.deleted_at.is_(None))
            .order_by(t.sessions.c.last_activity.desc())
            .limit(limit)
        )
        if owner is not None:
            query = query.where(t.sessions.c.owner == owner)
        return [
            {
                "session_id": r.id,
                "message_count": r.message_count,
                "current_agent": r.current_agent,
                "last_activity": utc(r.last_activity).isoformat(),
                "is_active": r.is_active,
                "total_tokens": int(r.total_tokens),
            }
            for r in (await self._db.execute(query)).all()
        ]


def _owned_by(owner: str) -> Select[tuple[str]]:
    """The ids of the sessions ``owner`` owns (deleted ones too: their records stay theirs)."""
    return select(t.sessions.c.id).where(t.sessions.c.owner == owner)
