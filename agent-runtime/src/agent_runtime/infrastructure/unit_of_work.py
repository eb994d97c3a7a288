"""The SQL unit of work: one connection, one transaction, repositories bound to it; commit once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Generic, TypeVar, overload

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

R = TypeVar("R")


class _Repository(Generic[R]):
    """A repository of the unit of work, made from the unit's connection when a step first uses it (a step builds
    only the ones it touches); mypy checks the store against the port it is declared as."""

    def __init__(self, make: Callable[[SqlConnection], R]) -> None:
        self._make = make
        self._name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, uow: None, owner: type) -> _Repository[R]: ...
    @overload
    def __get__(self, uow: SqlAlchemyUnitOfWork, owner: type) -> R: ...
    def __get__(self, uow: SqlAlchemyUnitOfWork | None, owner: type) -> _Repository[R] | R:
        if uow is None:
            return self
        made: R | None = uow._repositories.get(self._name)
        if made is None:
            assert uow._db is not None, "a repository outside the unit of work"
            made = uow._repositories[self._name] = self._make(uow._db)
        return made

    def __set__(self, uow: SqlAlchemyUnitOfWork, value: R) -> None:
        uow._repositories[self._name] = value


class SqlAlchemyUnitOfWork:
    """Leaving the block without ``commit`` rolls back. A write unit on SQLite starts with ``BEGIN IMMEDIATE``.

    On a SQLite file the statements run on the loop thread (``loop_sqlite``): ``loop`` is that engine and
    ``writers`` the lock write units of this process queue on; otherwise the async engine (asyncpg) is used."""

    sessions: _Repository[SessionRepository] = _Repository(SqlAlchemySessionRepository)
    messages: _Repository[MessageRepository] = _Repository(SqlAlchemyMessageRepository)
    agents: _Repository[AgentContextRepository] = _Repository(SqlAlchemyAgentContextRepository)
    approvals: _Repository[ApprovalRepository] = _Repository(SqlAlchemyApprovalRepository)
    plans: _Repository[PlanRepository] = _Repository(SqlAlchemyPlanRepository)
    runs: _Repository[RunRepository] = _Repository(SqlAlchemyRunRepository)
    tool_calls: _Repository[ToolCallRepository] = _Repository(SqlAlchemyToolCallRepository)
    events: _Repository[EventLogRepository] = _Repository(SqlAlchemyEventLogRepository)
    records: _Repository[RecordRepository] = _Repository(SqlAlchemyRecordRepository)
    client_messages: _Repository[ClientMessageRepository] = _Repository(SqlAlchemyClientMessageRepository)
    inbox: _Repository[InboxRepository] = _Repository(SqlAlchemyInboxRepository)

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
        self._db: SqlConnection | None = None
        self._repositories: dict[str, Any] = {}

    async def __aenter__(self) -> SqlAlchemyUnitOfWork:
        if self._writers is not None:
            await self._writers.acquire()
            self._holding = True
        try:
            db = self._begin_loop() if self._loop is not None else await self._begin_async()
        except BaseException:
            self._release()
            raise
        self._db = db
        self._repositories = {}
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

    @property
    def connection(self) -> AsyncConnection:
        """The open transaction's connection on the async engine (PostgreSQL), for a statement that must commit or
        roll back with the unit of work (the lease fence, ``writer_lock``)."""
        assert isinstance(self._connection, AsyncConnection), "no async transaction open"
        return self._connection

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
            self._connection = self._transaction = self._db = None
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
