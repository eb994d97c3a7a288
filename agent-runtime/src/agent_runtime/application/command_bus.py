"""The one write path. Every change to a session's state runs in a :class:`Step` of :meth:`CommandBus.step`, the one
runner: the session's seq lock → one unit of work → the commands handled in it (domain methods; durable chunks
appended to the event log, each with the session's next seq) → the audit rows of the events raised, in the same
transaction → the lease fence (several replicas: a step of a replica that lost the session's lease rolls back,
``LeaseLost``) → commit → publish. Events reach subscribers only after the commit succeeded, and a session's seqs reach
them in order (``session_stream``).

``execute`` runs one command in its own step under the session's writer lock (REST, housekeeping). The run engine
holds the writer lock for a whole frame and issues its commands in the steps of the turn (``step.execute``), where
the same step also carries the turn's ``done``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
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
from agent_runtime.application.session_stream import BLOCK, SessionStream
from agent_runtime.domain.agent_context import AgentContext
from agent_runtime.domain.client_tools import ClientTools
from agent_runtime.domain.errors import NotFound
from agent_runtime.domain.events import DomainEvent, EventSource, SessionEventAppended
from agent_runtime.domain.session import Session

Clock = Callable[[], datetime]


def new_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class Origin:
    """Who asked (``X-Subject``, checked against the session's owner) and the request's id, which becomes the
    correlation id of every event the work raises; ``client_tools``: the tools the asking client declared it
    executes (the session remembers them, ``Conversation.load``)."""

    subject: str | None = None
    correlation_id: str | None = None
    client_tools: ClientTools | None = None


@dataclass(kw_only=True)
class HandlerContext:
    """What a handler works with: the open unit of work, the time of the command, the agent catalogue (the only
    source of agent ids and of the entry agent), and what it has raised."""

    uow: UnitOfWork
    now: datetime
    subject: str | None
    catalogue: Catalogue
    handlers: Mapping[type[Command], Handler]
    new_id: Callable[[], str] = new_id
    raised: list[DomainEvent] = field(default_factory=list)
    # What this unit of work loaded, so every command of a step changes the same objects (an identity map).
    _sessions: dict[str, Session] = field(default_factory=dict, init=False, repr=False)
    _agent_contexts: dict[str, AgentContext] = field(default_factory=dict, init=False, repr=False)

    async def execute(self, command: Command) -> Any:
        """Handle ``command`` in this unit of work (its changes commit with the step's)."""
        return await self.handlers[type(command)](command, self)

    def collect(self, *entities: EventSource) -> None:
        for entity in entities:
            self.raised.extend(entity.pull_events())

    async def session(self, session_id: str) -> Session:
        """The live session, checked against the caller's subject (404 when absent, deleted or foreign); loaded once
        per unit of work."""
        session = self._sessions.get(session_id)
        if session is None:
            session = await self.uow.sessions.get(session_id)
            if session is None:
                raise NotFound(f"session {session_id} not found")
            session.check_access(self.subject)
            self._sessions[session_id] = session
        return session

    async def agent_context(self, session: Session) -> AgentContext:
        """The session's agent context (current agent and switches); loaded once per unit of work."""
        context = self._agent_contexts.get(session.id)
        if context is None:
            context = self._agent_contexts[session.id] = await self.uow.agents.get(session)
        return context

    async def log(self, session_id: str, chunk: Chunk) -> int:
        """Write a durable chunk (null keys dropped) to the session's event log in this transaction; returns its
        seq."""
        seq = await self.uow.sessions.allocate_seq(session_id)
        data = orjson.dumps({**without_nulls(chunk), "session_id": session_id})
        await self.uow.events.append(session_id, seq, str(chunk["type"]), data, self.now)
        self.raised.append(SessionEventAppended(session_id=session_id, occurred_at=self.now, seq=seq, data=data))
        return seq


Handler = Callable[[Any, HandlerContext], Awaitable[Any]]


@dataclass(kw_only=True)
class Step(HandlerContext):
    """One transaction about one session, in which the turn issues its commands (``execute``); callbacks in
    ``before_publish`` run after the commit and before anyone can see the chunks (the engine resolves tickets
    there)."""

    session_id: str
    client_tools: ClientTools | None = None  # the asking client's declaration (Origin), None when it made none
    before_publish: list[Callable[[Step], None]] = field(default_factory=list)
    live_block: tuple[int, int] | None = None  # (first, last) seqs reserved for the next non-durable chunks

    async def reserve_live(self) -> None:
        """Reserve the seqs of the deltas that follow this step in its own transaction (no commit of its own
        before the first token). Call it last: the block must lie above every durable seq of the step."""
        last = await self.uow.sessions.allocate_seq(self.session_id, BLOCK)
        self.live_block = (last - BLOCK + 1, last)


class CommandBus:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        lock: WriterLock,
        events: EventBus,
        handlers: Mapping[type[Command], Handler],
        clock: Clock,
        catalogue: Catalogue,
        stream: SessionStream,
    ) -> None:
        self._uow = uow
        self._lock = lock
        self._events = events
        self._handlers = handlers
        self._clock = clock
        self._catalogue = catalogue
        self._stream = stream

    def now(self) -> datetime:
        return self._clock()

    def writer(self, session_id: str) -> AbstractAsyncContextManager[None]:
        """Hold the session's writer lock across several steps (a turn); steps inside re-enter it."""
        return self._lock.hold(session_id)

    async def execute(self, command: Command, *, correlation_id: str | None = None) -> Any:
        """Run one command in its own step, under the session's writer lock."""
        session_id, origin = command.session_id, Origin(command.subject, correlation_id)
        async with self._lock.hold(session_id), self.step(session_id, origin, cause=type(command).__name__) as step:
            return await step.execute(command)

    @asynccontextmanager
    async def step(self, session_id: str, origin: Origin = Origin(), *, cause: str = "run") -> AsyncIterator[Step]:
        """A unit of work that commits when the block ends without an exception, then publishes (the runner)."""
        seqs = self._stream.seqs(session_id)
        correlation = origin.correlation_id or new_id()
        async with seqs.lock:
            try:
                async with self._uow() as uow:
                    step = Step(
                        uow=uow,
                        now=self._clock(),
                        subject=origin.subject,
                        catalogue=self._catalogue,
                        handlers=self._handlers,
                        session_id=session_id,
                        client_tools=origin.client_tools,
                    )
                    yield step
                    await record_audit(uow, step.raised, correlation_id=correlation, causation_id=cause)
                    await self._lock.fence(uow, session_id)  # a replica that lost the session's lease writes nothing
                    await uow.commit()
            finally:
                seqs.drop_block()
            if step.live_block is not None:  # committed above every durable seq of the step: still unused
                seqs.use_block(step.live_block)
            for callback in step.before_publish:
                callback(step)
            if seqs.watchers:
                for event in step.raised:
                    if isinstance(event, SessionEventAppended):
                        seqs.published(event.seq)
            if step.raised:
                await self._events.publish(step.raised, correlation_id=correlation, causation_id=cause)
