"""One writer per session: turns serialize within a process (asyncio lock) and across replicas on one
PostgreSQL database (a lease, no connection held); single commands from two engines on one SQLite file never
collide."""

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
from agent_runtime.infrastructure.writer_lock import SessionWriterLock
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


async def lease_url(postgres_url: str, tmp_path: Path) -> str:
    url = normalise_db_url(postgres_url, tmp_path)
    engine = create_engine(url)
    await upgrade(engine)
    await engine.dispose()
    return url


async def test_a_held_session_holds_no_connection_and_another_replica_waits_for_it(
    postgres_url: str, tmp_path: Path
) -> None:
    url = await lease_url(postgres_url, tmp_path)
    one, two = create_engine(url), create_engine(url)
    first, second = SessionWriterLock(one, lease_seconds=2), SessionWriterLock(two, lease_seconds=2)
    try:
        async with first.hold("s"):
            assert one.pool.checkedout() == 0  # the turn streams without a database connection
            async with second.hold_if_free("s") as free:
                assert not free
            waiting = asyncio.create_task(_hold_briefly(second, "s"))
            await asyncio.sleep(0.2)
            assert not waiting.done()
        await asyncio.wait_for(waiting, 5)  # released: the other replica gets it at once
    finally:
        await one.dispose()
        await two.dispose()


async def test_who_runs_a_session_is_known_here_and_on_the_other_replicas(postgres_url: str, tmp_path: Path) -> None:
    url = await lease_url(postgres_url, tmp_path)
    one, two = create_engine(url), create_engine(url)
    first, second = SessionWriterLock(one, lease_seconds=2), SessionWriterLock(two, lease_seconds=2)
    try:
        async with first.hold("s"):
            assert first.holds("s")
            assert not second.holds("s")
            assert await second.holder_elsewhere("s") == first.owner
            assert await first.holder_elsewhere("s") is None  # its own lease is not another replica's
            assert await second.holder_elsewhere("t") is None
        assert not first.holds("s")
        assert await second.holder_elsewhere("s") is None
    finally:
        await one.dispose()
        await two.dispose()


async def _hold_briefly(lock: SessionWriterLock, session_id: str) -> None:
    async with lock.hold(session_id):
        pass


async def test_a_lease_is_renewed_while_held_and_taken_over_once_its_owner_stops_renewing(
    postgres_url: str, tmp_path: Path
) -> None:
    url = await lease_url(postgres_url, tmp_path)
    one, two = create_engine(url), create_engine(url)
    # A 3 s lease renewed every second: a loaded machine may pause the loop for up to 2 s without losing it.
    live, dead, other = (
        SessionWriterLock(one, lease_seconds=3),
        SessionWriterLock(one, lease_seconds=3),
        SessionWriterLock(two, lease_seconds=3),
    )
    await live.start()  # dead never starts its heartbeat: a process that froze, or died with its lease taken
    try:
        release = asyncio.Event()

        async def keep(lock: SessionWriterLock, session_id: str, held: asyncio.Event) -> None:
            async with lock.hold(session_id):
                held.set()
                await release.wait()

        alive_held, dead_held = asyncio.Event(), asyncio.Event()
        keeping = [asyncio.create_task(keep(live, "alive", alive_held))]
        await alive_held.wait()  # "alive" is leased first: its first lease ends before "dead"'s
        keeping.append(asyncio.create_task(keep(dead, "dead", dead_held)))
        await dead_held.wait()
        async with asyncio.timeout(20):  # expired: another replica may take the session over
            while True:
                async with other.hold_if_free("dead") as free:
                    if free:
                        break
                await asyncio.sleep(0.1)
        async with other.hold_if_free("alive") as free:
            assert not free  # past its first lease too: only its owner's heartbeat kept it
        release.set()
        await asyncio.gather(*keeping)
    finally:
        await live.aclose()
        await one.dispose()
        await two.dispose()


async def test_closing_gives_every_lease_back(postgres_url: str, tmp_path: Path) -> None:
    url = await lease_url(postgres_url, tmp_path)
    one, two = create_engine(url), create_engine(url)
    leaving, other = SessionWriterLock(one, lease_seconds=60), SessionWriterLock(two, lease_seconds=60)
    try:
        entered = asyncio.Event()

        async def stuck() -> None:
            async with leaving.hold("s"):
                entered.set()
                await asyncio.sleep(3600)

        task = asyncio.create_task(stuck())
        await entered.wait()
        await leaving.aclose()  # as at shutdown, before the workers' own releases
        async with other.hold_if_free("s") as free:
            assert free
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    finally:
        await one.dispose()
        await two.dispose()


async def test_a_replica_with_a_stable_name_takes_back_the_leases_of_its_previous_run(
    postgres_url: str, tmp_path: Path
) -> None:
    url = await lease_url(postgres_url, tmp_path)
    one, two = create_engine(url), create_engine(url)
    before = SessionWriterLock(one, lease_seconds=60, replica="runtime-1")
    after, other = SessionWriterLock(two, lease_seconds=60, replica="runtime-1"), SessionWriterLock(two)
    try:
        assert await before._take("s")  # then the process dies (kill -9): its lease stays for 60 s
        async with other.hold_if_free("s") as free:
            assert not free
        await after.start()  # the same replica, restarted
        async with other.hold_if_free("s") as free:
            assert free
    finally:
        await after.aclose()
        await one.dispose()
        await two.dispose()
