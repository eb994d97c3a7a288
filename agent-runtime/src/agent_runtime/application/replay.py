"""Replay-then-follow: everything in a session's log after a seq, with the running turn's non-durable chunks
(token deltas, status) merged in by seq, then its live events, without gap or duplicate.

Order of reads: the follower is attached and the running turn's kept chunks are taken in one synchronous step;
with several replicas, the fan-out then listens to the session and is caught up with the turn another replica runs
(``SessionFanout.ready``, which adds that turn's chunks so far to the kept ones); then the log is read;
then whatever the follower already holds is drained. Every chunk published before the attach is in the log
(durable, committed before it was published) or in the kept chunks (a durable chunk only drops the kept chunks
before it, and is then in the log); every chunk after it is in the follower. The three sources are merged by seq
and deduplicated; live events at or below the last yielded seq are dropped."""

from __future__ import annotations

from collections.abc import AsyncIterator

from agent_runtime.application.fanout import Follower, Item, SessionFanout
from agent_runtime.application.ports import UnitOfWorkFactory
from agent_runtime.application.queries import events_after

PAGE = 500


async def replay_and_follow(
    uows: UnitOfWorkFactory, fanout: SessionFanout, session_id: str, after: int
) -> AsyncIterator[Item]:
    """Yield ``(seq, chunk JSON)`` in strictly increasing seq order until the caller stops, or until the
    reader falls too far behind the live stream (then it ends; the client resumes from its last seq)."""
    follower, kept = fanout.follow_turn(session_id)
    try:
        kept += await fanout.ready(session_id)  # other replicas' chunks reach the follower before the log is read
        pending = [item for item in kept if item[0] > after]
        last = cursor = after
        stopped = False
        while True:
            page = [(event.seq, event.data) for event in await events_after(uows, session_id, cursor, PAGE)]
            if len(page) == PAGE:
                cursor = page[-1][0]
                batch, pending = _split(pending, cursor)
            else:
                stopped = _drain(follower, pending, after)
                batch, pending = pending, []
            for seq, data in sorted(page + batch, key=_seq):
                if seq > last:
                    last = seq
                    yield seq, data
            if len(page) < PAGE:
                break
        while not stopped:
            seq, data = await follower.queue.get()
            if seq < 0:
                return
            if seq > last:
                last = seq
                yield seq, data
    finally:
        fanout.leave(session_id, follower)


def _seq(item: Item) -> int:
    return item[0]


def _split(items: list[Item], upto: int) -> tuple[list[Item], list[Item]]:
    """Items with seq ≤ ``upto`` (merged with the log page that ends there) and the rest."""
    return [i for i in items if i[0] <= upto], [i for i in items if i[0] > upto]


def _drain(follower: Follower, into: list[Item], after: int) -> bool:
    """Move what the follower already holds into ``into`` (published while the log was read: deltas among it may
    lie below the newest logged seq); True when the follower was told to stop."""
    while not follower.queue.empty():
        seq, data = follower.queue.get_nowait()
        if seq < 0:
            return True
        if seq > after:
            into.append((seq, data))
    return False
