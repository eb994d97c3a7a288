"""The live side of the session event stream: every chunk of a session, durable or not, goes to whoever is
following that session right now. Readers replay the log first and then read from here (see ``replay.py``).

Non-durable chunks (token deltas, status) are not in the log, so the fan-out also keeps those of the session's
running turn: a reader resuming in the middle of a turn gets them from here. They are dropped as soon as a durable
chunk follows them (the final message carries the deltas' whole text; an ``error``/``done`` ends the turn)."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field

from agent_runtime.application.event_bus import Envelope
from agent_runtime.domain.events import SessionEventAppended

MAX_BACKLOG = 10_000
# Chunks of one running turn kept for resuming readers; a longer turn loses its oldest deltas for them (the final
# message still carries the whole text).
TURN_LIMIT = 20_000

Item = tuple[int, bytes]


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

    def follow(self, session_id: str) -> Follower:
        follower = Follower()
        self._followers.setdefault(session_id, set()).add(follower)
        return follower

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

    def publish_live(self, session_id: str, seq: int, data: bytes, *, ends_turn: bool = False) -> None:
        """A non-durable chunk: kept for resuming readers until a durable chunk follows (``ends_turn``: a ``done``
        that is not logged, which ends what was kept), then sent to the followers. Hot path (every token)."""
        if ends_turn:
            self._turns.pop(session_id, None)
        else:
            turn = self._turns.get(session_id)
            if turn is None:
                turn = self._turns[session_id] = deque(maxlen=TURN_LIMIT)
            turn.append((seq, data))
        self.publish(session_id, seq, data)

    def end_turn(self, session_id: str) -> None:
        """Forget the kept chunks of the session (its worker went idle: no turn runs here any more)."""
        self._turns.pop(session_id, None)

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

    def _settle(self, session_id: str, seq: int) -> None:
        """A durable chunk supersedes the kept chunks before it."""
        turn = self._turns.get(session_id)
        if turn is None:
            return
        while turn and turn[0][0] < seq:
            turn.popleft()
        if not turn:
            del self._turns[session_id]
