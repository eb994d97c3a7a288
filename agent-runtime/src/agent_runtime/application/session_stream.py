"""The seqs of each session's stream, and the chunks that only go live.

Every chunk of a session has the next ``seq``. Durable chunks take theirs in the step that logs them
(``CommandBus.step``); non-durable chunks (token deltas, status notes) take theirs from a block reserved ahead, so a
seq is never reused, even across restarts: the step before a model call reserves the block in its own transaction
(``Step.reserve_live``), otherwise one small commit per block.

Seqs of one session reach followers in increasing order: the session's lock here spans allocate → commit → publish
of every step, and a reserved block is dropped after every step (a step may have taken durable seqs above it) unless
the step reserved it last.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import orjson

from agent_runtime.application.chunks import Chunk
from agent_runtime.application.ports import UnitOfWorkFactory

BLOCK = 256


class LiveFanout(Protocol):
    """Where non-durable chunks go (``SessionFanout``): to the followers, and kept for resuming readers until the
    turn's next durable chunk (or a ``done`` that is not logged)."""

    def publish(self, session_id: str, seq: int, data: bytes) -> None: ...

    def publish_live(self, session_id: str, seq: int, data: bytes, *, ends_turn: bool = False) -> None: ...

    def end_turn(self, session_id: str) -> None: ...


@dataclass(slots=True)
class SessionSeqs:
    """One session's seq state in this process: the lock of its steps and the reserved block of live seqs."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    next: int = 0  # next seq of the reserved block; the block is used up when next > last
    last: int = -1
    watchers: list[Callable[[int], None]] = field(default_factory=list)

    def published(self, seq: int) -> None:
        for watcher in self.watchers:
            watcher(seq)

    def drop_block(self) -> None:
        self.next, self.last = 0, -1

    def use_block(self, block: tuple[int, int]) -> None:
        self.next, self.last = block


class SessionStream:
    def __init__(self, uow_factory: UnitOfWorkFactory, fanout: LiveFanout) -> None:
        self._uow_factory = uow_factory
        self._fanout = fanout
        self._seqs: dict[str, SessionSeqs] = {}

    def seqs(self, session_id: str) -> SessionSeqs:
        state = self._seqs.get(session_id)
        if state is None:
            state = self._seqs[session_id] = SessionSeqs()
        return state

    async def live(self, session_id: str, chunk: Chunk, on_seq: Callable[[int], None] | None = None) -> int:
        """Send a non-durable chunk to the followers with the next seq; ``on_seq`` sees the seq before they do."""
        state = self.seqs(session_id)
        if state.next > state.last:
            async with state.lock:
                if state.next > state.last:
                    async with self._uow_factory() as uow:
                        last = await uow.sessions.allocate_seq(session_id, BLOCK)
                        await uow.commit()
                    state.use_block((last - BLOCK + 1, last))
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
        state = self.seqs(session_id)
        state.watchers.append(watcher)
        return lambda: state.watchers.remove(watcher)

    def forget(self, session_id: str) -> None:
        """Drop the session's in-memory seq state and kept turn chunks (its worker went idle); the database keeps
        the counter."""
        self._fanout.end_turn(session_id)
        state = self._seqs.get(session_id)
        if state is not None and not state.lock.locked() and not state.watchers:
            del self._seqs[session_id]
