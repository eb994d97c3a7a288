"""A writer process for the SIGKILL test: appends messages and logs events in one session, printing the number of
each acknowledged (committed) message on stdout, until it is killed."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime

from agent_runtime.agents.catalogue import build_catalogue
from agent_runtime.application.command_bus import CommandBus
from agent_runtime.application.commands import AppendMessage, CreateSession, StartRun, SwitchAgent
from agent_runtime.application.event_bus import EventBus
from agent_runtime.application.fanout import SessionFanout
from agent_runtime.application.handlers import HANDLERS
from agent_runtime.application.session_stream import SessionStream
from agent_runtime.domain.message import Message
from agent_runtime.infrastructure.database import create_engine
from agent_runtime.infrastructure.migrator import upgrade
from agent_runtime.infrastructure.unit_of_work import SqlAlchemyUnitOfWorkFactory
from agent_runtime.infrastructure.writer_lock import SessionWriterLock


async def main(url: str) -> None:
    engine = create_engine(url)
    await upgrade(engine)
    uows = SqlAlchemyUnitOfWorkFactory(engine)
    bus = CommandBus(
        uows,
        SessionWriterLock(engine, replica="crash-writer"),  # restarted below under the same name
        EventBus(),
        HANDLERS,
        lambda: datetime.now(UTC),
        build_catalogue(True),
        SessionStream(uows, SessionFanout()),
    )
    await bus.execute(CreateSession(session_id="crash", announce=True))
    await bus.execute(StartRun(session_id="crash"))
    print("ready", flush=True)
    agents = ("coder", "debug")
    number = 0
    while True:
        number += 1
        await bus.execute(
            AppendMessage(
                session_id="crash",
                message=Message(role="user", created_at=datetime.now(UTC), content=f"message {number}"),
            )
        )
        if number % 10 == 0:
            await bus.execute(SwitchAgent(session_id="crash", to_agent=agents[(number // 10) % 2], reason="r"))
        print(number, flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
