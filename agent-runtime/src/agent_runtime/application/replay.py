"""Replay-then-follow: everything in a session's log after a seq, then its live events, without gap or
duplicate. The follower is attached before the log is read, so nothing committed in between is missed; live
events at or below the last replayed seq are dropped."""

from __future__ import annotations

from collections.abc import AsyncIterator

from agent_runtime.application.fanout import SessionFanout
from agent_runtime.application.ports import UnitOfWorkFactory
from agent_runtime.application.queries import events_after

PAGE = 500


async def replay_and_follow(
    uows: UnitOfWorkFactory, fanout: SessionFanout, session_id: str, after: int
) -> AsyncIterator[tuple[int, bytes]]:
    """Yield ``(seq, chunk JSON)`` in strictly increasing seq order until the caller stops, or until the
    reader falls too far behind the live stream (then it ends; the client resumes from its last seq)."""
    follower = fanout.follow(session_id)
    try:
        last = after
        while True:
            page = await events_after(uows, session_id, last, PAGE)
            for event in page:
                yield event.seq, event.data
                last = event.seq
            if len(page) < PAGE:
                break
        while True:
            seq, data = await follower.queue.get()
            if seq < 0:
                return
            if seq > last:
                last = seq
                yield seq, data
    finally:
        fanout.leave(session_id, follower)
