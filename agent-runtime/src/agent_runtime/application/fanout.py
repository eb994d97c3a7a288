"""The live side of the session event stream: every chunk of a session, durable or not, goes to whoever is
following that session right now. Readers replay the log first and then read from here (see ``replay.py``).

Non-durable chunks (token deltas, status) are not in the log, so the fan-out also keeps those of the session's
running turn: a reader resuming in the middle of a turn gets them from here. They are dropped as soon as a durable
chunk follows them (the final message carries the deltas' whole text; an ``error``/``done`` ends the turn).

With several replicas on one database a :class:`Relay` carries the chunks between processes (ADR 8): what this
process produces goes to the relay too, and what another process produced comes back through ``deliver``; a
session's channel is listened to while this process has followers of it. A reader joining here in the middle of a
turn another replica runs gets the deltas sent before this process listened from that replica (``catch_up``, asked
for by the relay once per session followed here, in ``ready``)."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from agent_runtime.application.event_bus import Envelope
from agent_runtime.domain.events import SessionEventAppended

MAX_BACKLOG = 10_000
# Chunks of one running turn kept for resuming readers; a longer turn loses its oldest deltas for them (the final
# message still carries the whole text).
TURN_LIMIT = 20_000

Item = tuple[int, bytes]


class Kind(Enum):
    """What a relayed chunk does at the receiving replica (the code is its one-letter wire form)."""

    LIVE = "L"  # a non-durable chunk (publish_live)
    LIVE_END = "E"  # a non-durable ``done`` that ends the turn (publish_live, ends_turn)
    DURABLE = "D"  # a logged chunk, after its commit (on_event)
    TURN_OVER = "T"  # the producing worker went idle (end_turn)
    RESUME = "W"  # chunks may have been lost on the way: followers resume from the log (wake)


class Relay(Protocol):
    """Carries chunks to the other replicas' fan-outs (``infrastructure/pg_fanout.py``)."""

    def send(self, kind: Kind, session_id: str, seq: int, data: bytes) -> None:
        """Hot path (every token): queue, never wait."""

    def watch(self, session_id: str) -> None:
        """This process has followers of the session now: receive its chunks."""

    def unwatch(self, session_id: str) -> None: ...

    async def ready(self, session_id: str) -> None:
        """Return once chunks of the watched session published from now on will be received, and the running
        turn's chunks sent before are caught up with (``SessionFanout.catch_up``) if another replica runs it."""


@dataclass(eq=False, slots=True)
class Follower:
    """One reader's queue. When it falls ``MAX_BACKLOG`` events behind it is cut off (``overflowed``); the
    reader ends its stream and the client resumes from its last seq, which the log can always serve."""

    queue: asyncio.Queue[Item] = field(default_factory=lambda: asyncio.Queue(MAX_BACKLOG))
    overflowed: bool = False


class SessionFanout:
    def __init__(self) -> None:
        self._followers: dict[str, set[Follower]] = {}
        self._turns: dict[str, deque[Item]] = {}
        self._relay: Relay | None = None
        self._relayed: set[str] = set()  # sessions whose kept chunks came from another replica

    def use_relay(self, relay: Relay) -> None:
        """Cross-process fan-out (several replicas on PostgreSQL); without it the fan-out is this process's."""
        self._relay = relay

    def follow(self, session_id: str) -> Follower:
        follower = Follower()
        followers = self._followers.get(session_id)
        if followers is None:
            followers = self._followers[session_id] = set()
            if self._relay is not None:
                self._relay.watch(session_id)
        followers.add(follower)
        return follower

    async def ready(self, session_id: str) -> list[Item]:
        """Wait until chunks of a followed session produced by other replicas reach this process's followers (a
        reader that reads the log must not start before, or a chunk committed meanwhile would reach it neither way);
        returns the running turn's kept chunks as known then, with those another replica caught this one up with
        (they may repeat chunks the follower holds: the reader merges by seq)."""
        if self._relay is None:
            return []
        await self._relay.ready(session_id)
        return list(self._turns.get(session_id, ()))

    def follow_turn(self, session_id: str) -> tuple[Follower, list[Item]]:
        """Attach a follower and take the running turn's non-durable chunks in one synchronous step, so every
        chunk is in the snapshot, in the follower's queue, or (durable) in the log."""
        return self.follow(session_id), list(self._turns.get(session_id, ()))

    def leave(self, session_id: str, follower: Follower) -> None:
        followers = self._followers.get(session_id)
        if followers is not None:
            followers.discard(follower)
            if not followers:
                del self._followers[session_id]
                if self._relay is not None:
                    self._relay.unwatch(session_id)
                    if session_id in self._relayed:  # nobody here resumes from them any more
                        self._relayed.discard(session_id)
                        self._turns.pop(session_id, None)

    def publish_live(self, session_id: str, seq: int, data: bytes, *, ends_turn: bool = False) -> None:
        """A non-durable chunk: kept for resuming readers until a durable chunk follows (``ends_turn``: a ``done``
        that is not logged, which ends what was kept), then sent to the followers. Hot path (every token)."""
        self._keep(session_id, seq, data, ends_turn)
        self.publish(session_id, seq, data)
        if self._relay is not None:
            self._relay.send(Kind.LIVE_END if ends_turn else Kind.LIVE, session_id, seq, data)

    def _keep(self, session_id: str, seq: int, data: bytes, ends_turn: bool) -> None:
        if ends_turn:
            self._turns.pop(session_id, None)
        else:
            turn = self._turns.get(session_id)
            if turn is None:
                turn = self._turns[session_id] = deque(maxlen=TURN_LIMIT)
            turn.append((seq, data))

    def turn_so_far(self, session_id: str) -> list[Item]:
        """The running turn's kept chunks, in seq order (what another replica catching up is sent)."""
        return list(self._turns.get(session_id, ()))

    def catch_up(self, session_id: str, items: list[Item]) -> None:
        """Chunks of the running turn sent before this process listened, from the replica that runs it: merged into
        the kept chunks by seq (once each) for the readers here; nobody's queue gets them (a follower already past
        them would see seqs go back). Kept only where someone follows, as relayed chunks are."""
        if not items or session_id not in self._followers:
            return
        merged = dict(items)
        merged.update(self._turns.get(session_id, ()))
        self._turns[session_id] = deque(sorted(merged.items()), maxlen=TURN_LIMIT)
        self._relayed.add(session_id)

    def end_turn(self, session_id: str) -> None:
        """Forget the kept chunks of the session (its worker went idle: no turn runs here any more)."""
        self._turns.pop(session_id, None)
        if self._relay is not None:
            self._relay.send(Kind.TURN_OVER, session_id, 0, b"")

    def deliver(self, kind: Kind, session_id: str, seq: int, data: bytes) -> None:
        """A chunk another replica produced (from the relay): the same effect here as there, not relayed again."""
        if kind is Kind.LIVE or kind is Kind.LIVE_END:
            if session_id in self._followers:  # kept only where someone follows: resuming readers of this process
                self._relayed.add(session_id)
                self._keep(session_id, seq, data, kind is Kind.LIVE_END)
            self.publish(session_id, seq, data)
        elif kind is Kind.DURABLE:
            self._settle(session_id, seq)
            self.publish(session_id, seq, data)
        elif kind is Kind.TURN_OVER:
            self._turns.pop(session_id, None)
        else:
            self.publish(session_id, -1, b"")

    def publish(self, session_id: str, seq: int, data: bytes) -> None:
        """Hot path (every token): no allocation beyond the tuple, no logging."""
        followers = self._followers.get(session_id)
        if not followers:
            return
        item = (seq, data)
        for follower in followers:
            if follower.overflowed:
                continue
            try:
                follower.queue.put_nowait(item)
            except asyncio.QueueFull:
                follower.overflowed = True
                follower.queue.get_nowait()
                follower.queue.put_nowait((-1, b""))  # wakes the reader so it notices

    def followers(self, session_id: str) -> int:
        return len(self._followers.get(session_id, ()))

    def kept(self, session_id: str) -> int:
        """How many non-durable chunks of the running turn are kept for resuming readers."""
        return len(self._turns.get(session_id, ()))

    async def on_event(self, envelope: Envelope) -> None:
        """Bus subscriber for durable chunks, delivered after their transaction committed."""
        event = envelope.event
        if isinstance(event, SessionEventAppended):
            self._settle(event.session_id, event.seq)
            self.publish(event.session_id, event.seq, event.data)
            if self._relay is not None:
                self._relay.send(Kind.DURABLE, event.session_id, event.seq, event.data)

    def _settle(self, session_id: str, seq: int) -> None:
        """A durable chunk supersedes the kept chunks before it."""
        turn = self._turns.get(session_id)
        if turn is None:
            return
        while turn and turn[0][0] < seq:
            turn.popleft()
        if not turn:
            del self._turns[session_id]
