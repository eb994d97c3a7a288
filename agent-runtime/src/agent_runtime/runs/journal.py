"""The session event log as the run engine writes it.

A :class:`Step` is one unit of work (the core's :class:`HandlerContext`, so the core's command handlers run inside
it): state changes and the durable chunks announcing them commit together, each chunk with the next ``seq`` of its
session; after the commit the collected domain events (the chunks among them) go to the bus, whose fan-out
subscriber feeds the live followers; the audit rows of those events are written in the same transaction. Non-durable
chunks (token deltas, status) take their seq from a block reserved ahead, so a seq is never reused, even across
restarts: the step before a model call reserves it in its own transaction (``Step.reserve_live``), otherwise one
small commit per block.

Seqs of one session reach followers in increasing order: a per-session lock spans allocate → commit → publish, and a
reserved block is dropped after every step (a step may have taken durable seqs above it) unless the step reserved
it last.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import orjson

from agent_runtime.agents.catalogue import Catalogue
from agent_runtime.application.audit import record_audit
from agent_runtime.application.chunks import Chunk
from agent_runtime.application.command_bus import HandlerContext, new_id
from agent_runtime.application.ports import UnitOfWorkFactory
from agent_runtime.domain.client_tools import ClientTools
from agent_runtime.domain.events import DomainEvent, SessionEventAppended

BLOCK = 256


class EventPublisher(Protocol):
    """The event bus, as far as the journal needs it."""

    async def publish(
        self, events: Sequence[DomainEvent], *, correlation_id: str | None = None, causation_id: str | None = None
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class Origin:
    """Who asked (``X-Subject``, checked against the session's owner) and the request's id, which becomes the
    correlation id of every event the work raises; ``client_tools``: the tools the asking client declared it
    executes (the session remembers them, ``Conversation.load``)."""

    subject: str | None = None
    correlation_id: str | None = None
    client_tools: ClientTools | None = None


class LiveFanout(Protocol):
    """Where non-durable chunks go (``SessionFanout``): to the followers, and kept for resuming readers until the
    turn's next durable chunk (or a ``done`` that is not logged)."""

    def publish(self, session_id: str, seq: int, data: bytes) -> None: ...

    def publish_live(self, session_id: str, seq: int, data: bytes, *, ends_turn: bool = False) -> None: ...

    def end_turn(self, session_id: str) -> None: ...


@dataclass(slots=True)
class _SessionSeqs:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    next: int = 0  # next seq of the reserved block; the block is used up when next > last
    last: int = -1
    watchers: list[Callable[[int], None]] = field(default_factory=list)

    def published(self, seq: int) -> None:
        for watcher in self.watchers:
            watcher(seq)


@dataclass(kw_only=True)
class Step(HandlerContext):
    """One transaction of a run. ``emit`` logs a durable chunk (nulls dropped); callbacks in ``before_publish``
    run after the commit and before anyone can see the chunks (the engine resolves tickets there)."""

    session_id: str
    client_tools: ClientTools | None = None  # the asking client's declaration (Origin), None when it made none
    done_seq: int | None = None
    before_publish: list[Callable[[Step], None]] = field(default_factory=list)
    live_block: tuple[int, int] | None = None  # (first, last) seqs reserved for the next non-durable chunks

    async def emit(self, chunk: Chunk) -> int:
        seq = await self.log(self.session_id, chunk)
        if chunk["type"] == "done":
            self.done_seq = seq
        return seq

    async def reserve_live(self) -> None:
        """Reserve the seqs of the deltas that follow this step in its own transaction (no commit of its own
        before the first token). Call it last: the block must lie above every durable seq of the step."""
        last = await self.uow.sessions.allocate_seq(self.session_id, BLOCK)
        self.live_block = (last - BLOCK + 1, last)


class Journal:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        bus: EventPublisher,
        fanout: LiveFanout,
        clock: Callable[[], datetime],
        catalogue: Catalogue,
    ) -> None:
        self._uow_factory = uow_factory
        self._catalogue = catalogue
        self._bus = bus
        self._fanout = fanout
        self._clock = clock
        self._seqs: dict[str, _SessionSeqs] = {}

    def now(self) -> datetime:
        return self._clock()

    @asynccontextmanager
    async def step(self, session_id: str, origin: Origin = Origin()) -> AsyncIterator[Step]:
        """A unit of work that commits when the block ends without an exception, then publishes."""
        state = self._state(session_id)
        correlation = origin.correlation_id or new_id()
        async with state.lock:
            try:
                async with self._uow_factory() as uow:
                    step = Step(
                        uow=uow,
                        now=self._clock(),
                        subject=origin.subject,
                        catalogue=self._catalogue,
                        session_id=session_id,
                        client_tools=origin.client_tools,
                    )
                    yield step
                    await record_audit(uow, step.raised, correlation_id=correlation, causation_id="run")
                    await uow.commit()
            finally:
                state.next, state.last = 0, -1
            if step.live_block is not None:  # committed above every durable seq of the step: still unused
                state.next, state.last = step.live_block
            for callback in step.before_publish:
                callback(step)
            if state.watchers:
                for event in step.raised:
                    if isinstance(event, SessionEventAppended):
                        state.published(event.seq)
            if step.raised:
                await self._bus.publish(step.raised, correlation_id=correlation, causation_id="run")

    async def live(self, session_id: str, chunk: Chunk, on_seq: Callable[[int], None] | None = None) -> int:
        """Send a non-durable chunk to the followers with the next seq; ``on_seq`` sees the seq before they do."""
        state = self._state(session_id)
        if state.next > state.last:
            async with state.lock:
                if state.next > state.last:
                    async with self._uow_factory() as uow:
                        last = await uow.sessions.allocate_seq(session_id, BLOCK)
                        await uow.commit()
                    state.next, state.last = last - BLOCK + 1, last
        seq = state.next
        state.next += 1
        chunk["session_id"] = session_id
        if on_seq is not None:
            on_seq(seq)
        if state.watchers:
            state.published(seq)
        self._fanout.publish_live(session_id, seq, orjson.dumps(chunk), ends_turn=chunk["type"] == "done")
        return seq

    def wake(self, session_id: str) -> None:
        """End every follower of the session (they resume from their last seq, which the log can serve)."""
        self._fanout.publish(session_id, -1, b"")

    def watch(self, session_id: str, watcher: Callable[[int], None]) -> Callable[[], None]:
        """Call ``watcher`` with the seq of every chunk of the session before followers see it; returns the undo."""
        state = self._state(session_id)
        state.watchers.append(watcher)
        return lambda: state.watchers.remove(watcher)

    def forget(self, session_id: str) -> None:
        """Drop the session's in-memory seq state and kept turn chunks (its worker went idle); the database keeps
        the counter."""
        self._fanout.end_turn(session_id)
        state = self._seqs.get(session_id)
        if state is not None and not state.lock.locked() and not state.watchers:
            del self._seqs[session_id]

    def _state(self, session_id: str) -> _SessionSeqs:
        state = self._seqs.get(session_id)
        if state is None:
            state = self._seqs[session_id] = _SessionSeqs()
        return state
