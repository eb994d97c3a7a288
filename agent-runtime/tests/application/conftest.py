"""The harness of the command handlers' tests: the command bus on the in-memory unit of work."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from agent_runtime.agents.catalogue import build_catalogue
from agent_runtime.application.command_bus import CommandBus
from agent_runtime.application.event_bus import Envelope, EventBus
from agent_runtime.application.fanout import SessionFanout
from agent_runtime.application.handlers import HANDLERS
from agent_runtime.application.session_stream import SessionStream
from tests.fakes import FakeLock, FakeUnitOfWorkFactory

NOW = datetime(2026, 1, 1, tzinfo=UTC)


class Harness:
    def __init__(self) -> None:
        self.uows = FakeUnitOfWorkFactory()
        self.lock = FakeLock()
        self.events = EventBus()
        self.seen: list[Envelope] = []
        self.now = NOW

        async def remember(envelope: Envelope) -> None:
            self.seen.append(envelope)

        self.events.subscribe(remember)
        self.bus = CommandBus(
            self.uows,
            self.lock,
            self.events,
            HANDLERS,
            lambda: self.now,
            build_catalogue(True),
            SessionStream(self.uows, SessionFanout()),
        )

    def chunks(self, session_id: str) -> list[dict[str, object]]:
        return [orjson.loads(e.data) for e in self.uows.store.events.get(session_id, [])]


@pytest.fixture
def h() -> Harness:
    return Harness()
