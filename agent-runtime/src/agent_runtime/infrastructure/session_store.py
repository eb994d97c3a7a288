"""SQL repositories for sessions, messages, agent switches and the session event log."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, func, insert, select, update

from agent_runtime.application.ports import LoggedEvent, SessionPage
from agent_runtime.domain.agent_context import AgentContext, AgentSwitch
from agent_runtime.domain.client_tools import ClientTools
from agent_runtime.domain.message import Message, ToolCall
from agent_runtime.domain.session import Session
from agent_runtime.infrastructure import tables as t
from agent_runtime.infrastructure.loop_sqlite import SqlConnection, prepared


def utc(value: datetime) -> datetime:
    """SQLite hands datetimes back naive; everything in the domain is aware UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def maybe_utc(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


_SESSION_FIELDS = (
    "owner",
    "title",
    "description",
    "current_agent",
    "is_active",
    "created_at",
    "updated_at",
    "last_activity",
    "deleted_at",
    "message_count",
)


def _session_row(session: Session) -> dict[str, Any]:
    row = {name: getattr(session, name) for name in _SESSION_FIELDS}
    row["client_tools"] = None if session.client_tools is None else session.client_tools.to_json()
    row["approval_rules"] = list(session.approval_rules) or None
    row["denied_rules"] = list(session.denied_rules) or None
    return row


def _session(row: Any) -> Session:
    return Session(
        id=row.id,
        owner=row.owner,
        title=row.title,
        description=row.description,
        current_agent=row.current_agent,
        created_at=utc(row.created_at),
        updated_at=utc(row.updated_at),
        last_activity=utc(row.last_activity),
        is_active=row.is_active,
        deleted_at=maybe_utc(row.deleted_at),
        message_count=row.message_count,
        client_tools=None if row.client_tools is None else ClientTools.from_json(row.client_tools),
        approval_rules=tuple(row.approval_rules or ()),
        denied_rules=tuple(row.denied_rules or ()),
    )


# The statements of every step, built once: building a Core statement and computing its cache key on each call
# cost more CPU than running it on SQLite. Parameters are bound by name at execution; on SQLite they take the fast
# path (``loop_sqlite.prepared``).
_GET_ANY = prepared(select(t.sessions).where(t.sessions.c.id == bindparam("_id")))
_GET_LIVE = prepared(_GET_ANY.where(t.sessions.c.deleted_at.is_(None)))
_SAVE = prepared(update(t.sessions).where(t.sessions.c.id == bindparam("_id")))
_ALLOCATE = prepared(
    update(t.sessions)
    .where(t.sessions.c.id == bindparam("_id"))
    .values(last_seq=t.sessions.c.last_seq + bindparam("_count"))
    .returning(t.sessions.c.last_seq)
)
_INSERT_MESSAGE = prepared(insert(t.messages))
_HISTORY = prepared(
    select(t.messages)
    .where(t.messages.c.session_id == bindparam("_id"), t.messages.c.position > bindparam("_after"))
    .order_by(t.messages.c.position)
)
_SWITCHES = prepared(
    select(t.agent_switches).where(t.agent_switches.c.session_id == bindparam("_id")).order_by(t.agent_switches.c.id)
)
_INSERT_EVENT = prepared(insert(t.session_events))


class SqlAlchemySessionRepository:
    def __init__(self, connection: SqlConnection) -> None:
        self._db = connection

    async def add(self, session: Session) -> None:
        await self._db.execute(insert(t.sessions).values(id=session.id, last_seq=0, **_session_row(session)))

    async def get(self, session_id: str, *, include_deleted: bool = False) -> Session | None:
        query = _GET_ANY if include_deleted else _GET_LIVE
        row = (await self._db.execute(query, {"_id": session_id})).first()
        return None if row is None else _session(row)

    async def save(self, session: Session) -> None:
        await self._db.execute(_SAVE, {"_id": session.id, **_session_row(session)})

    async def page(self, *, owner: str | None, active_only: bool, limit: int, offset: int) -> SessionPage:
        where: list[ColumnElement[bool]] = [t.sessions.c.deleted_at.is_(None)]
        if owner is not None:
            where.append(t.sessions.c.owner == owner)
        if active_only:
            where.append(t.sessions.c.is_active.is_(True))
        condition = and_(*where)
        total = (await self._db.execute(select(func.count()).select_from(t.sessions).where(condition))).scalar_one()
        query = (
            select(t.sessions)
            .where(condition)
            .order_by(t.sessions.c.last_activity.desc(), t.sessions.c.id)
            .limit(limit)
            .offset(offset)
        )
        rows = (await self._db.execute(query)).all()
        return SessionPage([_session(r) for r in rows], int(total))

    async def idle_since(self, before: datetime, limit: int) -> list[Session]:
        query = (
            select(t.sessions)
            .where(t.sessions.c.deleted_at.is_(None), t.sessions.c.last_activity < before)
            .order_by(t.sessions.c.last_activity)
            .limit(limit)
        )
        return [_session(r) for r in (await self._db.execute(query)).all()]

    async def allocate_seq(self, session_id: str, count: int = 1) -> int:
        return int((await self._db.execute(_ALLOCATE, {"_id": session_id, "_count": count})).scalar_one())


class SqlAlchemyMessageRepository:
    def __init__(self, connection: SqlConnection) -> None:
        self._db = connection

    async def append(self, session_id: str, position: int, message: Message) -> None:
        calls = [c.to_openai() for c in message.tool_calls] or None
        row = {
            "session_id": session_id,
            "position": position,
            "role": message.role,
            "content": message.content,
            "name": message.name,
            "tool_call_id": message.tool_call_id,
            "tool_calls": calls,
            "agent": message.agent,
            "created_at": message.created_at,
        }
        await self._db.execute(_INSERT_MESSAGE, row)

    async def history(self, session_id: str, after: int = 0) -> list[Message]:
        query, params = _HISTORY, {"_id": session_id, "_after": after}
        return [
            Message(
                role=row.role,
                content=row.content,
                created_at=utc(row.created_at),
                name=row.name,
                tool_call_id=row.tool_call_id,
                tool_calls=tuple(ToolCall.from_openai(c) for c in row.tool_calls or ()),
                agent=row.agent,
            )
            for row in (await self._db.execute(query, params)).all()
        ]


class SqlAlchemyAgentContextRepository:
    """The current agent lives on the session row; switches are appended to their own table."""

    def __init__(self, connection: SqlConnection) -> None:
        self._db = connection
        self._loaded: dict[str, int] = {}

    async def get(self, session: Session) -> AgentContext:
        switches = [
            AgentSwitch(r.from_agent, r.to_agent, r.reason, r.confidence, utc(r.switched_at))
            for r in (await self._db.execute(_SWITCHES, {"_id": session.id})).all()
        ]
        self._loaded[session.id] = len(switches)
        return AgentContext(session_id=session.id, current_agent=session.current_agent, switches=switches)

    async def save(self, context: AgentContext) -> None:
        new = context.switches[self._loaded.get(context.session_id, 0) :]
        if new:
            await self._db.execute(
                insert(t.agent_switches),
                [
                    {
                        "session_id": context.session_id,
                        "from_agent": s.from_agent,
                        "to_agent": s.to_agent,
                        "reason": s.reason,
                        "confidence": s.confidence,
                        "switched_at": s.switched_at,
                    }
                    for s in new
                ],
            )
        self._loaded[context.session_id] = len(context.switches)
        await self._db.execute(
            update(t.sessions).where(t.sessions.c.id == context.session_id).values(current_agent=context.current_agent)
        )


class SqlAlchemyEventLogRepository:
    def __init__(self, connection: SqlConnection) -> None:
        self._db = connection

    async def append(self, session_id: str, seq: int, type: str, data: bytes, created_at: datetime) -> None:
        row = {"session_id": session_id, "seq": seq, "type": type, "data": data, "created_at": created_at}
        await self._db.execute(_INSERT_EVENT, row)

    async def after(self, session_id: str, seq: int, limit: int) -> list[LoggedEvent]:
        query = (
            select(
                t.session_events.c.seq, t.session_events.c.type, t.session_events.c.data, t.session_events.c.created_at
            )
            .where(t.session_events.c.session_id == session_id, t.session_events.c.seq > seq)
            .order_by(t.session_events.c.seq)
            .limit(limit)
        )
        rows = (await self._db.execute(query)).all()
        return [LoggedEvent(r.seq, r.type, bytes(r.data), utc(r.created_at)) for r in rows]
