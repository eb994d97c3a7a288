"""The per-session durable inbox in SQL (``session_inbox``): user messages that arrived at a replica while another
replica's turn held the session, kept until the next holder of the session's lease runs them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, func, select
from sqlalchemy.dialects.postgresql import insert

from agent_runtime.application.ports import InboxEntry
from agent_runtime.infrastructure import tables as t
from agent_runtime.infrastructure.loop_sqlite import SqlConnection
from agent_runtime.infrastructure.session_store import utc

_INBOX = t.session_inbox


class SqlAlchemyInboxRepository:
    def __init__(self, connection: SqlConnection) -> None:
        self._db = connection

    async def add(
        self, session_id: str, subject: str | None, client_message_id: str, frame: dict[str, Any], received_at: datetime
    ) -> int | None:
        values = {
            "session_id": session_id,
            "subject": subject,
            "client_message_id": client_message_id,
            "frame": frame,
            "received_at": received_at,
        }
        statement = insert(_INBOX).values(values).on_conflict_do_nothing().returning(_INBOX.c.id)
        row = (await self._db.execute(statement)).first()
        return None if row is None else int(row.id)

    async def get(self, session_id: str, client_message_id: str) -> InboxEntry | None:
        query = select(_INBOX).where(_INBOX.c.session_id == session_id, _INBOX.c.client_message_id == client_message_id)
        return _entry((await self._db.execute(query)).first())

    async def oldest(self, session_id: str) -> InboxEntry | None:
        query = select(_INBOX).where(_INBOX.c.session_id == session_id).order_by(_INBOX.c.id).limit(1)
        return _entry((await self._db.execute(query)).first())

    async def remove(self, entry_id: int) -> bool:
        deleted = await self._db.execute(delete(_INBOX).where(_INBOX.c.id == entry_id).returning(_INBOX.c.id))
        return deleted.first() is not None

    async def waiting(self, limit: int) -> list[str]:
        first = func.min(_INBOX.c.id)
        query = select(_INBOX.c.session_id).group_by(_INBOX.c.session_id).order_by(first).limit(limit)
        return [str(row.session_id) for row in (await self._db.execute(query)).all()]


def _entry(row: Row[Any] | None) -> InboxEntry | None:
    if row is None:
        return None
    return InboxEntry(
        id=int(row.id),
        session_id=row.session_id,
        subject=row.subject,
        client_message_id=row.client_message_id,
        frame=dict(row.frame),
        received_at=utc(row.received_at),
    )
