"""SQLite units of work on the loop thread: write units of one process queue instead of meeting SQLite's lock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent_runtime.domain.session import Session
from agent_runtime.infrastructure.database import create_engine, normalise_db_url
from agent_runtime.infrastructure.loop_sqlite import loop_engine
from agent_runtime.infrastructure.migrator import upgrade
from agent_runtime.infrastructure.unit_of_work import SqlAlchemyUnitOfWorkFactory

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


@pytest.fixture
async def uows(sqlite_url: str, tmp_path: Path) -> AsyncIterator[SqlAlchemyUnitOfWorkFactory]:
    engine = create_engine(normalise_db_url(sqlite_url, tmp_path))
    await upgrade(engine)
    factory = SqlAlchemyUnitOfWorkFactory(engine)
    yield factory
    factory.close()
    await engine.dispose()


async def test_a_second_writer_waits_for_the_first_and_both_commit(uows: SqlAlchemyUnitOfWorkFactory) -> None:
    first_in, first_may_leave = asyncio.Event(), asyncio.Event()
    order: list[str] = []

    async def first() -> None:
        async with uows() as uow:
            first_in.set()
            await uow.sessions.add(Session.create("a", owner=None, now=NOW))
            await first_may_leave.wait()  # holds its write transaction across a real suspension
            await uow.commit()
        order.append("first")

    async def second() -> None:
        await first_in.wait()
        async with uows() as uow:
            order.append("second in")
            await uow.sessions.add(Session.create("b", owner=None, now=NOW))
            await uow.commit()

    tasks = [asyncio.create_task(first()), asyncio.create_task(second())]
    await first_in.wait()
    await asyncio.sleep(0.05)
    assert order == []  # the second writer queues on the lock (it would otherwise block the loop in SQLite)
    first_may_leave.set()
    await asyncio.gather(*tasks)
    assert order == ["first", "second in"]
    async with uows(write=False) as uow:
        assert await uow.sessions.get("a") is not None
        assert await uow.sessions.get("b") is not None


async def test_readers_do_not_wait_for_a_writer(uows: SqlAlchemyUnitOfWorkFactory) -> None:
    async with uows() as writer:
        await writer.sessions.add(Session.create("a", owner=None, now=NOW))
        async with uows(write=False) as reader:
            assert await reader.sessions.get("a") is None  # not committed yet
        await writer.commit()


async def test_a_writer_cancelled_while_queued_leaves_the_lock_to_the_others(
    uows: SqlAlchemyUnitOfWorkFactory,
) -> None:
    async with uows():
        queued = asyncio.create_task(uows().__aenter__())
        await asyncio.sleep(0.01)
        queued.cancel()
        with pytest.raises(asyncio.CancelledError):
            await queued
    async with asyncio.timeout(5):
        async with uows() as uow:
            await uow.sessions.add(Session.create("c", owner=None, now=NOW))
            await uow.commit()


def test_only_a_sqlite_file_gets_a_loop_engine(tmp_path: Path) -> None:
    file_engine = create_engine(normalise_db_url(f"sqlite:///{tmp_path / 'x.sqlite3'}", tmp_path))
    memory_engine = create_engine("sqlite+aiosqlite:///:memory:")
    postgres_engine = create_engine("postgresql+asyncpg://u@127.0.0.1/db")
    assert loop_engine(file_engine) is not None
    assert loop_engine(memory_engine) is None
    assert loop_engine(postgres_engine) is None
