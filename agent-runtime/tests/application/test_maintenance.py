from datetime import UTC, datetime, timedelta

from agent_runtime.agents.catalogue import build_catalogue
from agent_runtime.application.command_bus import CommandBus
from agent_runtime.application.commands import CreateSession
from agent_runtime.application.event_bus import EventBus
from agent_runtime.application.fanout import SessionFanout
from agent_runtime.application.handlers import HANDLERS
from agent_runtime.application.maintenance import expire_idle_sessions
from agent_runtime.application.session_stream import SessionStream
from tests.fakes import FakeLock, FakeUnitOfWorkFactory

START = datetime(2026, 1, 1, tzinfo=UTC)


async def test_sessions_idle_past_the_ttl_are_soft_deleted_and_others_stay() -> None:
    uows = FakeUnitOfWorkFactory()
    clock = {"now": START}
    bus = CommandBus(
        uows,
        FakeLock(),
        EventBus(),
        HANDLERS,
        lambda: clock["now"],
        build_catalogue(True),
        SessionStream(uows, SessionFanout()),
    )
    await bus.execute(CreateSession(session_id="old"))
    clock["now"] = START + timedelta(hours=5)
    await bus.execute(CreateSession(session_id="fresh"))
    expired = await expire_idle_sessions(bus, uows, ttl=timedelta(hours=2), now=START + timedelta(hours=6))
    assert expired == 1
    assert uows.store.sessions["old"].deleted_at is not None
    assert uows.store.sessions["fresh"].deleted_at is None
