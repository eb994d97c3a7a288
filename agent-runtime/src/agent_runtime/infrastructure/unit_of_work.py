"""The SQL unit of work: one connection, one transaction, repositories bound to it; commit once."""

from __future__ import annotations

import asyncio

from sqlalchemy import Connection, Engine, Transaction
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncTransaction

from agent_runtime.application.ports import (
    AgentContextRepository,
    ApprovalRepository,
    ClientMessageRepository,
    EventLogRepository,
    InboxRepository,
    MessageRepository,
    PlanRepository,
    RecordRepository,
    RunRepository,
    SessionRepository,
    ToolCallRepository,
)
from agent_runtime.infrastructure.client_message_store import SqlAlchemyClientMessageRepository
from agent_runtime.infrastructure.inbox_store import SqlAlchemyInboxRepository
from agent_runtime.infrastructure.loop_sqlite import LoopConnection, SqlConnection, loop_engine
from agent_runtime.infrastructure.record_store import SqlAlchemyRecordRepository
from agent_runtime.infrastructure.session_store import (
    SqlAlchemyAgentContextRepository,
    SqlAlchemyEventLogRepository,
    SqlAlchemyMessageRepository,
    SqlAlchemySessionRepository,
)
from agent_runtime.infrastructure.workflow_store import (
    SqlAlchemyApprovalRepository,
    SqlAlchemyPlanRepository,
    SqlAlchemyRunRepository,
    SqlAlchemyToolCallRepository,
)


class SqlAlchemyUnitOfWork:
    """Leaving the block without ``commit`` rolls back. A write unit on SQLite starts with ``BEGIN IMMEDIATE``.

    On a SQLite file the statements run on the loop thread (``loop_sqlite``): ``loop`` is that engine and
    ``writers`` the lock write units of this process queue on; otherwise the async engine (asyncpg) is used."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        write: bool = True,
        loop: Engine | None = None,
        writers: asyncio.Lock | None = None,
    ) -> None:
        self._engine = engine
        self._write = write
        self._loop = loop
        self._writers = writers if write else None
        self._holding = False
        self._connection: AsyncConnection | Connection | None = None
        self._transaction: AsyncTransaction | Transaction | None = None

    async def __aenter__(self) -> SqlAlchemyUnitOfWork:
        if self._writers is not None:
            await self._writers.acquire()
            self._holding = True
        try:
            db = self._begin_loop() if self._loop is not None else await self._begin_async()
        except BaseException:
            self._release()
            raise
        self.sessions: SessionRepository = SqlAlchemySessionRepository(db)
        self.messages: MessageRepository = SqlAlchemyMessageRepository(db)
        self.agents: AgentContextRepository = SqlAlchemyAgentContextRepository(db)
        self.approvals: ApprovalRepository = SqlAlchemyApprovalRepository(db)
        self.plans: PlanRepository = SqlAlchemyPlanRepository(db)
        self.runs: RunRepository = SqlAlchemyRunRepository(db)
        self.tool_calls: ToolCallRepository = SqlAlchemyToolCallRepository(db)
        self.events: EventLogRepository = SqlAlchemyEventLogRepository(db)
        self.records: RecordRepository = SqlAlchemyRecordRepository(db)
        self.client_messages: ClientMessageRepository = SqlAlchemyClientMessageRepository(db)
        self.inbox: InboxRepository = SqlAlchemyInboxRepository(db)
        return self

    async def _begin_async(self) -> SqlConnection:
        connection = await self._engine.connect()
        if self._write:
            connection = await connection.execution_options(sqlite_write=True)
        self._connection = connection
        self._transaction = await connection.begin()
        return connection

    def _begin_loop(self) -> SqlConnection:
        assert self._loop is not None
        connection = self._loop.connect()
        if self._write:
            connection = connection.execution_options(sqlite_write=True)
        self._connection = connection
        self._transaction = connection.begin()
        return LoopConnection(connection)

    async def commit(self) -> None:
        transaction = self._transaction
        assert transaction is not None, "commit outside the unit of work"
        if isinstance(transaction, AsyncTransaction):
            await transaction.commit()
        else:
            transaction.commit()

    async def __aexit__(self, *exc: object) -> None:
        connection, transaction = self._connection, self._transaction
        assert connection is not None
        try:
            if isinstance(connection, AsyncConnection):
                if isinstance(transaction, AsyncTransaction) and transaction.is_active:
                    await transaction.rollback()
                await connection.close()
            else:
                if isinstance(transaction, Transaction) and transaction.is_active:
                    transaction.rollback()
                connection.close()
        finally:
            self._connection = self._transaction = None
            self._release()

    def _release(self) -> None:
        if self._holding and self._writers is not None:
            self._holding = False
            self._writers.release()


class SqlAlchemyUnitOfWorkFactory:
    """Units of work on ``engine``; on a SQLite file they run on the loop thread (see ``loop_sqlite``)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._loop = loop_engine(engine)
        self._writers = asyncio.Lock()

    def __call__(self, *, write: bool = True) -> SqlAlchemyUnitOfWork:
        return SqlAlchemyUnitOfWork(self._engine, write=write, loop=self._loop, writers=self._writers)

    def close(self) -> None:
        """Close the loop-thread connections (the async engine is disposed by its owner)."""
        if self._loop is not None:
            self._loop.dispose()
