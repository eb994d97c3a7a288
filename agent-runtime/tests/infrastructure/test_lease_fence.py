"""The lease fence (issue 16): on PostgreSQL every step of a session held under a lease checks, in its own
transaction, that this replica still owns the lease. A replica that stalled longer than the lease and lost the
session to another replica commits and publishes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from agent_runtime.agents.catalogue import build_catalogue
from agent_runtime.application.command_bus import CommandBus
from agent_runtime.application.commands import AppendMessage, CreateSession
from agent_runtime.application.event_bus import Envelope, EventBus
from agent_runtime.application.fanout import SessionFanout
from agent_runtime.application.handlers import HANDLERS
from agent_runtime.application.ports import LeaseLost
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
        self.lock = SessionWriterLock(self.engine, lease_seconds=60)
        self.published: list[str] = []
        events = EventBus()
        events.subscribe(self._note, name="test")
        stream = SessionStream(self.uows, SessionFanout())
        catalogue = build_catalogue(True)
        self.bus = CommandBus(self.uows, self.lock, events, HANDLERS, lambda: NOW, catalogue, stream)

    async def _note(self, envelope: Envelope) -> None:
        self.published.append(envelope.event.type)

    async def history(self) -> list[str]:
        async with self.uows(write=False) as uow:
            return [m.content or "" for m in await uow.messages.history("s")]

    async def lease(self) -> tuple[str, float]:
        """The owner of session s's lease and the seconds it has left."""
        async with self.engine.connect() as connection:
            row = (
                await connection.execute(
                    text(
                        "SELECT owner, extract(epoch FROM expires_at - now()) FROM session_leases WHERE session_id='s'"
                    )
                )
            ).one()
        return str(row[0]), float(row[1])

    async def expire(self) -> None:
        """What a stall longer than the lease amounts to: its expiry passes without renewal."""
        async with self.engine.begin() as connection:
            await connection.execute(text("UPDATE session_leases SET expires_at = now() - interval '1 second'"))


@pytest.fixture
async def replicas(postgres_url: str, tmp_path: Path) -> list[Replica]:
    url = normalise_db_url(postgres_url, tmp_path)
    engine = create_engine(url)
    await upgrade(engine)
    await engine.dispose()
    pair = [Replica(url), Replica(url)]
    await pair[0].bus.execute(CreateSession(session_id="s"))
    yield pair
    for replica in pair:
        await replica.engine.dispose()


async def test_a_step_whose_lease_another_replica_took_rolls_back_and_publishes_nothing(
    replicas: list[Replica],
) -> None:
    stalled, other = replicas
    async with stalled.bus.writer("s"):
        async with stalled.bus.step("s") as step:
            await step.execute(AppendMessage(session_id="s", message=user_message("before the stall")))
            seq = await step.log(step.session_id, {"type": "status", "message": "working"})
        committed = await stalled.lease()
        await stalled.expire()
        assert await other.lock._take("s")  # the other replica takes the session over
        stalled.published.clear()
        with pytest.raises(LeaseLost) as lost:
            await stalled.bus.execute(AppendMessage(session_id="s", message=user_message("after the stall")))
        with pytest.raises(LeaseLost):  # every later step of the hold too
            async with stalled.bus.step("s") as step:
                await step.log(step.session_id, {"type": "done", "stop_reason": "completed"})
    assert lost.value.committed == seq  # what the new owner logs comes after it
    assert await stalled.history() == ["before the stall"]
    assert stalled.published == []
    assert committed[0] == stalled.lock.owner
    assert (await other.lease())[0] == other.lock.owner  # the stalled replica's release left it alone
    async with other.bus.writer("s"):  # the new owner writes on
        await other.bus.execute(AppendMessage(session_id="s", message=user_message("new owner")))
    assert await other.history() == ["before the stall", "new owner"]


async def test_an_expired_lease_nobody_took_is_renewed_by_the_next_step(replicas: list[Replica]) -> None:
    slow, other = replicas
    async with slow.bus.writer("s"):
        await slow.expire()
        await slow.bus.execute(AppendMessage(session_id="s", message=user_message("late but alone")))
        owner, left = await slow.lease()
        assert owner == slow.lock.owner
        assert left > 50
        async with other.lock.hold_if_free("s") as free:
            assert not free
    assert await slow.history() == ["late but alone"]


async def test_steps_outside_a_lease_are_not_fenced(replicas: list[Replica]) -> None:
    one, other = replicas
    # Another replica holds the session; a bare step here holds no lease and runs no fence.
    async with other.bus.writer("s"), one.bus.step("s") as step:
        await step.log(step.session_id, {"type": "status", "message": "housekeeping"})
    assert one.published[-1] == "SessionEventAppended"
