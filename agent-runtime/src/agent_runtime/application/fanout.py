"""The live side of the session event stream: every chunk of a session, durable or not, goes to whoever is
following that session right now. Readers replay the log first and then read from here (see ``replay.py``)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from agent_runtime.application.event_bus import Envelope
from agent_runtime.domain.events import SessionEventAppended

MAX_BACKLOG = 10_000


@dataclass(eq=False, slots=True)
class Follower:
    """One reader's queue. When it falls ``MAX_BACKLOG`` events behind it is cut off (``overflowed``); the
    reader ends its stream and the client resumes from its last seq, which the log can always serve."""

    queue: asyncio.Queue[tuple[int, bytes]] = field(default_factory=lambda: asyncio.Queue(MAX_BACKLOG))
    overflowed: bool = False


class SessionFanout:
    def __init__(self) -> None:
        self._followers: dict[str, set[Follower]] = {}

    def follow(self, session_id: str) -> Follower:
        follower = Follower()
        self._followers.setdefault(session_id, set()).add(follower)
        return follower

    def leave(self, session_id: str, follower: Follower) -> None:
        followers = self._followers.get(session_id)
        if followers is not None:
            followers.discard(follower)
            if not followers:
                del self._followers[session_id]

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

    async def on_event(self, envelope: Envelope) -> None:
        """Bus subscriber for durable chunks, delivered after their transaction committed."""
        event = envelope.event
        if isinstance(event, SessionEventAppended):
            self.publish(event.session_id, event.seq, event.data)
