"""One writer per session: turns serialize within a process (asyncio lock) and across replicas on one
PostgreSQL database (advisory lock); single commands from two engines on one SQLite file never collide."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent_runtime.agents.catalogue import build_catalogue
from agent_runtime.application.command_bus import CommandBus
from agent_runtime.application.commands import AppendMessage, CreateSession
from agent_runtime.application.event_bus import EventBus
from agent_runtime.application.fanout import SessionFanout
from agent_runtime.application.handlers import HANDLERS
from agent_runtime.application.session_stream import SessionStream
from agent_runtime.infrastructure.database import create_engine, normalise_db_url
from agent_runtime.infrastructure.migrator import upgrade
from agent_runtime.infrastructure.unit_of_work import SqlAlchemyUnitOfWorkFactory
from agent_runtime.infrastructure.writer_lock import SessionWriterLock, advisory_key
from tests.fakes import user_message

NOW = datetime(2026, 1, 1, tzinfo=UTC)


class Replica:
    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)
        self.uows = SqlAlchemyUnitOfWorkFactory(self.engine)
        self.bus = CommandBus(
            self.uows,
            SessionWriterLock(self.engine),
            EventBus(),
            HANDLERS,
            lambda: NOW,
            build_catalogue(True),
            SessionStream(self.uows, SessionFanout()),
        )


@pytest.fixture
async def url(db_url: str, tmp_path: Path) -> str:
    full = normalise_db_url(db_url, tmp_path)
    engine = create_engine(full)
    await upgrade(engine)
    await engine.dispose()
    return full


async def turn(replica: Replica, index: int) -> None:
    """A turn-shaped critical section: two commands with a pause between, under one hold of the lock."""
    async with replica.bus.writer("s"):
        await replica.bus.execute(AppendMessage(session_id="s", message=user_message(f"start-{index}")))
        await asyncio.sleep(0.005)
        await replica.bus.execute(AppendMessage(session_id="s", message=user_message(f"end-{index}")))


async def history(replica: Replica) -> list[str]:
    async with replica.uows(write=False) as uow:
        return [m.content or "" for m in await uow.messages.history("s")]


def assert_turns_never_interleave(contents: list[str], turns: int) -> None:
    assert len(contents) == 2 * turns
    for first, second in zip(contents[::2], contents[1::2], strict=True):
        assert first.startswith("start-")
        assert second == "end-" + first.removeprefix("start-")


async def test_turns_in_one_process_serialize(url: str) -> None:
    replica = Replica(url)
    try:
        await replica.bus.execute(CreateSession(session_id="s"))
        await asyncio.gather(*(turn(replica, i) for i in range(8)))
        assert_turns_never_interleave(await history(replica), 8)
    finally:
        await replica.engine.dispose()


async def test_turns_on_two_postgres_replicas_serialize(postgres_url: str, tmp_path: Path) -> None:
    url = normalise_db_url(postgres_url, tmp_path)
    engine = create_engine(url)
    await upgrade(engine)
    await engine.dispose()
    one, two = Replica(url), Replica(url)
    try:
        await one.bus.execute(CreateSession(session_id="s"))
        await asyncio.gather(*(turn(one if i % 2 else two, i) for i in range(10)))
        assert_turns_never_interleave(await history(one), 10)
    finally:
        await one.engine.dispose()
        await two.engine.dispose()


async def test_single_commands_from_two_engines_keep_positions_consecutive(url: str) -> None:
    one, two = Replica(url), Replica(url)
    try:
        await one.bus.execute(CreateSession(session_id="s"))
        positions = await asyncio.gather(
            *(
                (one if i % 2 else two).bus.execute(AppendMessage(session_id="s", message=user_message(str(i))))
                for i in range(30)
            )
        )
        assert sorted(positions) == list(range(1, 31))
    finally:
        await one.engine.dispose()
        await two.engine.dispose()


async def test_the_lock_is_reentrant_within_one_task(url: str) -> None:
    replica = Replica(url)
    try:
        await replica.bus.execute(CreateSession(session_id="s"))
        async with replica.bus.writer("s"), replica.bus.writer("s"):
            await replica.bus.execute(AppendMessage(session_id="s", message=user_message("inside")))
        assert await history(replica) == ["inside"]
    finally:
        await replica.engine.dispose()


def test_advisory_keys_are_stable_signed_64_bit() -> None:
    key = advisory_key("session-1")
    assert key == advisory_key("session-1")
    assert -(2**63) <= key < 2**63
    assert key != advisory_key("session-2")
