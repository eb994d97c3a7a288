"""Runs a command: takes the session's writer lock, opens one unit of work, calls the handler, writes the audit rows
of what it raised in the same transaction, commits once, then publishes what happened. Events reach subscribers only
after the commit succeeded."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from agent_runtime.agents.catalogue import Catalogue
from agent_runtime.application.audit import record_audit
from agent_runtime.application.chunks import Chunk, without_nulls
from agent_runtime.application.commands import Command
from agent_runtime.application.event_bus import EventBus
from agent_runtime.application.ports import UnitOfWork, UnitOfWorkFactory, WriterLock
from agent_runtime.domain.errors import NotFound
from agent_runtime.domain.events import DomainEvent, EventSource, SessionEventAppended
from agent_runtime.domain.session import Session

Clock = Callable[[], datetime]


def new_id() -> str:
    return uuid.uuid4().hex


@dataclass
class HandlerContext:
    """What a handler works with: the open unit of work, the time of the command, the agent catalogue (the only
    source of agent ids and of the entry agent), and what it has raised."""

    uow: UnitOfWork
    now: datetime
    subject: str | None
    catalogue: Catalogue
    new_id: Callable[[], str] = new_id
    raised: list[DomainEvent] = field(default_factory=list)

    def collect(self, *entities: EventSource) -> None:
        for entity in entities:
            self.raised.extend(entity.pull_events())

    async def session(self, session_id: str) -> Session:
        """The live session, checked against the caller's subject (404 when absent or deleted, 403 when foreign)."""
        session = await self.uow.sessions.get(session_id)
        if session is None:
            raise NotFound(f"session {session_id} not found")
        session.check_access(self.subject)
        return session

    async def log(self, session_id: str, chunk: Chunk) -> int:
        """Write a durable chunk (null keys dropped) to the session's event log in this transaction; returns its
        seq."""
        seq = await self.uow.sessions.allocate_seq(session_id)
        data = orjson.dumps({**without_nulls(chunk), "session_id": session_id})
        await self.uow.events.append(session_id, seq, str(chunk["type"]), data, self.now)
        self.raised.append(SessionEventAppended(session_id=session_id, occurred_at=self.now, seq=seq, data=data))
        return seq


Handler = Callable[[Any, HandlerContext], Awaitable[Any]]


class CommandBus:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        lock: WriterLock,
        events: EventBus,
        handlers: dict[type[Command], Handler],
        clock: Clock,
        catalogue: Catalogue,
    ) -> None:
        self._uow = uow
        self._catalogue = catalogue
        self._lock = lock
        self._events = events
        self._handlers = handlers
        self._clock = clock

    def writer(self, session_id: str) -> AbstractAsyncContextManager[None]:
        """Hold the session's writer lock across several commands (a turn); commands inside re-enter it."""
        return self._lock.hold(session_id)

    async def execute(self, command: Command, *, correlation_id: str | None = None) -> Any:
        handler = self._handlers[type(command)]
        session_id = getattr(command, "session_id", None)
        guard = self._lock.hold(session_id) if isinstance(session_id, str) else nullcontext()
        correlation, causation = correlation_id or new_id(), type(command).__name__
        async with guard:
            async with self._uow() as uow:
                context = HandlerContext(uow, self._clock(), command.subject, self._catalogue)
                result = await handler(command, context)
                await record_audit(uow, context.raised, correlation_id=correlation, causation_id=causation)
                await uow.commit()
            # Still under the writer lock: the live stream sees a session's events in seq order.
            await self._events.publish(context.raised, correlation_id=correlation, causation_id=causation)
        return result
