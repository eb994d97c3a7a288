"""Client message ids of user messages (idempotent submits) in SQL."""

from __future__ import annotations

from sqlalchemy import insert, select, update

from agent_runtime.application.ports import ClientMessage
from agent_runtime.infrastructure import tables as t
from agent_runtime.infrastructure.loop_sqlite import SqlConnection
from agent_runtime.infrastructure.session_store import utc


class SqlAlchemyClientMessageRepository:
    def __init__(self, connection: SqlConnection) -> None:
        self._db = connection

    async def add(self, record: ClientMessage) -> None:
        await self._db.execute(
            insert(t.client_messages).values(
                session_id=record.session_id,
                client_message_id=record.client_message_id,
                digest=record.digest,
                after_seq=record.after_seq,
                done_seq=record.done_seq,
                created_at=record.created_at,
            )
        )

    async def get(self, session_id: str, client_message_id: str) -> ClientMessage | None:
        table = t.client_messages
        query = select(table).where(table.c.session_id == session_id, table.c.client_message_id == client_message_id)
        row = (await self._db.execute(query)).first()
        if row is None:
            return None
        return ClientMessage(
            session_id=row.session_id,
            client_message_id=row.client_message_id,
            digest=row.digest,
            after_seq=int(row.after_seq),
            done_seq=None if row.done_seq is None else int(row.done_seq),
            created_at=utc(row.created_at),
        )

    async def finish(self, session_id: str, client_message_id: str, done_seq: int) -> None:
        table = t.client_messages
        await self._db.execute(
            update(table)
            .where(table.c.session_id == session_id, table.c.client_message_id == client_message_id)
            .values(done_seq=done_seq)
        )
