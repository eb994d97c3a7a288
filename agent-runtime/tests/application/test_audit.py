"""The audit log is written in the transaction of the state change that raised its events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from agent_runtime.agents.catalogue import build_catalogue
from agent_runtime.application.command_bus import CommandBus, HandlerContext
from agent_runtime.application.commands import CreateSession
from agent_runtime.application.event_bus import EventBus
from agent_runtime.application.fanout import SessionFanout
from agent_runtime.application.handlers import HANDLERS
from agent_runtime.application.session_stream import SessionStream
from agent_runtime.domain.session import Session
from agent_runtime.infrastructure.database import create_engine, normalise_db_url
from agent_runtime.infrastructure.migrator import upgrade
from agent_runtime.infrastructure.unit_of_work import SqlAlchemyUnitOfWorkFactory
from agent_runtime.infrastructure.writer_lock import SessionWriterLock

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


@pytest.fixture
async def uows(db_url: str, tmp_path: Path) -> AsyncIterator[SqlAlchemyUnitOfWorkFactory]:
    engine = create_engine(normalise_db_url(db_url, tmp_path))
    await upgrade(engine)
    factory = SqlAlchemyUnitOfWorkFactory(engine)
    yield factory
    factory.close()
    await engine.dispose()


def bus(uows: SqlAlchemyUnitOfWorkFactory, handlers: dict[type, Any]) -> CommandBus:
    return CommandBus(
        uows,
        SessionWriterLock(),
        EventBus(),
        handlers,
        lambda: NOW,
        build_catalogue(True),
        SessionStream(uows, SessionFanout()),
    )


async def test_a_command_commits_its_audit_rows_with_the_request_correlation(
    uows: SqlAlchemyUnitOfWorkFactory,
) -> None:
    await bus(uows, HANDLERS).execute(CreateSession(session_id="s1"), correlation_id="req-1")
    async with uows(write=False) as uow:
        audit = await uow.records.audit(session_id="s1", event_type=None, limit=10)
    assert [(e.event_type, e.correlation_id, e.causation_id) for e in audit] == [
        ("SessionCreated", "req-1", "CreateSession")
    ]


async def test_a_command_that_fails_before_its_commit_leaves_no_audit_row(uows: SqlAlchemyUnitOfWorkFactory) -> None:
    async def create_then_fail(command: CreateSession, ctx: HandlerContext) -> None:
        session = Session.create("s2", owner=None, now=ctx.now, agent="coder")
        await ctx.uow.sessions.add(session)
        ctx.collect(session)
        raise RuntimeError("the handler failed after raising its events")

    with pytest.raises(RuntimeError):
        await bus(uows, {CreateSession: create_then_fail}).execute(CreateSession(session_id="s2"))
    async with uows(write=False) as uow:
        assert await uow.records.audit(session_id="s2", event_type=None, limit=10) == []
        assert await uow.sessions.get("s2") is None
