"""The per-session durable inbox (``session_inbox``) on SQLite files and the real PostgreSQL: entries come back in
order, a client message id is held once per session, and an entry is consumed exactly once even when two
transactions race for it (PostgreSQL, where replicas share the database)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from agent_runtime.domain.session import Session
from agent_runtime.infrastructure.database import create_engine, normalise_db_url
from agent_runtime.infrastructure.migrator import upgrade
from agent_runtime.infrastructure.unit_of_work import SqlAlchemyUnitOfWorkFactory

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


@pytest.fixture
async def uows(db_url: str, tmp_path: Path) -> AsyncIterator[SqlAlchemyUnitOfWorkFactory]:
    engine = create_engine(normalise_db_url(db_url, tmp_path))
    await upgrade(engine)
    factory = SqlAlchemyUnitOfWorkFactory(engine)
    async with factory() as uow:
        for session_id in ("s1", "s2"):
            await uow.sessions.add(Session.create(session_id, owner="alice", now=NOW, agent="orchestrator"))
        await uow.commit()
    yield factory
    factory.close()
    await engine.dispose()


@pytest.fixture
async def replicas(postgres_url: str, tmp_path: Path) -> AsyncIterator[list[SqlAlchemyUnitOfWorkFactory]]:
    """Two replicas' units of work on one PostgreSQL database (each process queues its own write units)."""
    engines = [create_engine(normalise_db_url(postgres_url, tmp_path)) for _ in range(2)]
    await upgrade(engines[0])
    factories = [SqlAlchemyUnitOfWorkFactory(engine) for engine in engines]
    async with factories[0]() as uow:
        await uow.sessions.add(Session.create("s1", owner="alice", now=NOW, agent="orchestrator"))
        await uow.commit()
    yield factories
    for engine in engines:
        await engine.dispose()


def frame(content: str) -> dict[str, object]:
    return {"message": {"type": "user_message", "content": content}, "correlation_id": "r-" + content}


async def queue(uows: SqlAlchemyUnitOfWorkFactory, session_id: str, client_message_id: str) -> int | None:
    async with uows() as uow:
        entry_id = await uow.inbox.add(session_id, "alice", client_message_id, frame(client_message_id), NOW)
        await uow.commit()
    return entry_id


async def test_entries_come_back_in_order_per_session(uows: SqlAlchemyUnitOfWorkFactory) -> None:
    first = await queue(uows, "s1", "a")
    await queue(uows, "s2", "b")
    await queue(uows, "s1", "c")
    async with uows(write=False) as uow:
        oldest = await uow.inbox.oldest("s1")
        waiting = await uow.inbox.waiting(10)
        found = await uow.inbox.get("s1", "c")
        missing = await uow.inbox.get("s2", "a")
    assert oldest is not None
    assert (oldest.id, oldest.client_message_id, oldest.subject) == (first, "a", "alice")
    assert oldest.frame == frame("a")
    assert oldest.received_at == NOW
    assert waiting == ["s1", "s2"]
    assert found is not None
    assert found.frame == frame("c")
    assert missing is None

    async with uows() as uow:
        assert await uow.inbox.remove(oldest.id)
        await uow.commit()
    async with uows(write=False) as uow:
        after = await uow.inbox.oldest("s1")
        waiting = await uow.inbox.waiting(10)
    assert after is not None
    assert after.client_message_id == "c"
    assert waiting == ["s2", "s1"]  # s2's entry now waits longest


async def test_a_client_message_id_is_queued_once_per_session(uows: SqlAlchemyUnitOfWorkFactory) -> None:
    assert await queue(uows, "s1", "same") is not None
    assert await queue(uows, "s1", "same") is None
    assert await queue(uows, "s2", "same") is not None


async def test_a_removed_entry_cannot_be_removed_again(uows: SqlAlchemyUnitOfWorkFactory) -> None:
    entry_id = await queue(uows, "s1", "a")
    assert entry_id is not None
    async with uows() as uow:
        assert await uow.inbox.remove(entry_id)
        await uow.commit()
    async with uows() as uow:
        assert not await uow.inbox.remove(entry_id)


async def test_a_removal_rolled_back_leaves_the_entry(uows: SqlAlchemyUnitOfWorkFactory) -> None:
    entry_id = await queue(uows, "s1", "a")
    assert entry_id is not None
    async with uows() as uow:
        assert await uow.inbox.remove(entry_id)  # no commit: the user message's transaction failed
    async with uows(write=False) as uow:
        assert await uow.inbox.oldest("s1") is not None


async def blocked_on_a_lock(url: str) -> None:
    """Until a backend of the database at ``url`` waits for a lock (the caller bounds the wait)."""
    connection = await asyncpg.connect(url)
    try:
        pause = 0.005
        while not await connection.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ):
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.1)
    finally:
        await connection.close()


@pytest.mark.timeout(30)
@pytest.mark.parametrize("first_commits", [True, False])
async def test_two_consumers_of_one_entry_one_wins(
    replicas: list[SqlAlchemyUnitOfWorkFactory], postgres_url: str, first_commits: bool
) -> None:
    a, b = replicas
    entry_id = await queue(a, "s1", "a")
    assert entry_id is not None

    async def second() -> bool:
        async with b() as uow:
            removed = await uow.inbox.remove(entry_id)
            await uow.commit()
            return removed

    async with a() as uow:
        assert await uow.inbox.remove(entry_id)
        racing = asyncio.create_task(second())
        await asyncio.wait_for(blocked_on_a_lock(postgres_url), 10)
        assert not racing.done()
        if first_commits:
            await uow.commit()
    # The second waited for the first: it consumes the entry only if the first one's transaction rolled back.
    assert await asyncio.wait_for(racing, 10) is not first_commits


@pytest.mark.timeout(60)
async def test_concurrent_consumers_take_every_entry_exactly_once_in_order(
    replicas: list[SqlAlchemyUnitOfWorkFactory],
) -> None:
    ids = [await queue(replicas[0], "s1", f"m{i}") for i in range(40)]

    async def consumer(uows: SqlAlchemyUnitOfWorkFactory) -> list[int]:
        taken: list[int] = []
        while True:
            async with uows() as uow:
                entry = await uow.inbox.oldest("s1")
                if entry is None:
                    return taken
                if await uow.inbox.remove(entry.id):
                    taken.append(entry.id)
                await uow.commit()

    first, second = await asyncio.gather(*(consumer(uows) for uows in replicas))
    assert sorted(first + second) == ids
    assert not set(first) & set(second)
    assert first == sorted(first)
    assert second == sorted(second)
