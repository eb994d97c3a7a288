"""The SQL unit of work: one connection, one transaction, repositories bound to it; commit once."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncTransaction

from agent_runtime.application.ports import (
    AgentContextRepository,
    ApprovalRepository,
    ClientMessageRepository,
    EventLogRepository,
    MessageRepository,
    PlanRepository,
    RecordRepository,
    RunRepository,
    SessionRepository,
    ToolCallRepository,
)
from agent_runtime.infrastructure.client_message_store import SqlAlchemyClientMessageRepository
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
    """Leaving the block without ``commit`` rolls back. A write unit on SQLite starts with ``BEGIN IMMEDIATE``."""

    def __init__(self, engine: AsyncEngine, *, write: bool = True) -> None:
        self._engine = engine
        self._write = write
        self._connection: AsyncConnection | None = None
        self._transaction: AsyncTransaction | None = None

    async def __aenter__(self) -> SqlAlchemyUnitOfWork:
        connection = await self._engine.connect()
        if self._write:
            connection = await connection.execution_options(sqlite_write=True)
        self._connection = connection
        self._transaction = await connection.begin()
        self.sessions: SessionRepository = SqlAlchemySessionRepository(connection)
        self.messages: MessageRepository = SqlAlchemyMessageRepository(connection)
        self.agents: AgentContextRepository = SqlAlchemyAgentContextRepository(connection)
        self.approvals: ApprovalRepository = SqlAlchemyApprovalRepository(connection)
        self.plans: PlanRepository = SqlAlchemyPlanRepository(connection)
        self.runs: RunRepository = SqlAlchemyRunRepository(connection)
        self.tool_calls: ToolCallRepository = SqlAlchemyToolCallRepository(connection)
        self.events: EventLogRepository = SqlAlchemyEventLogRepository(connection)
        self.records: RecordRepository = SqlAlchemyRecordRepository(connection)
        self.client_messages: ClientMessageRepository = SqlAlchemyClientMessageRepository(connection)
        return self

    async def commit(self) -> None:
        assert self._transaction is not None, "commit outside the unit of work"
        await self._transaction.commit()

    async def __aexit__(self, *exc: object) -> None:
        assert self._connection is not None
        try:
            if self._transaction is not None and self._transaction.is_active:
                await self._transaction.rollback()
        finally:
            await self._connection.close()
            self._connection = self._transaction = None


class SqlAlchemyUnitOfWorkFactory:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    def __call__(self, *, write: bool = True) -> SqlAlchemyUnitOfWork:
        return SqlAlchemyUnitOfWork(self._engine, write=write)
