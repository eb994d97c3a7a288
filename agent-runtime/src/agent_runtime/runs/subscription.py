"""What the SSE response of one request carries: the session's chunks from its follower, filtered to this request's
work and ended by its ``done``, or (for an idempotent repeat) the original answer replayed from the event log."""

from __future__ import annotations

from collections.abc import AsyncIterator

from agent_runtime.application.fanout import Follower
from agent_runtime.application.ports import UnitOfWorkFactory
from agent_runtime.application.queries import events_after
from agent_runtime.application.replay import PAGE
from agent_runtime.runs.engine import Ticket


async def ticket_chunks(follower: Follower, ticket: Ticket) -> AsyncIterator[tuple[int, bytes]]:
    """``(seq, chunk JSON)`` of this request until its ``done`` (or until the follower fell too far behind)."""
    while True:
        seq, data = await follower.queue.get()
        if seq < 0:
            return
        if not ticket.wants(seq):
            continue
        yield seq, data
        if ticket.done.done() and seq >= ticket.done.result():
            return


async def replayed_chunks(uows: UnitOfWorkFactory, session_id: str, ticket: Ticket) -> AsyncIterator[tuple[int, bytes]]:
    """The logged chunks of an earlier request (``ticket.replay`` = (after, until))."""
    assert ticket.replay is not None
    after, until = ticket.replay
    while after < until:
        page = await events_after(uows, session_id, after, PAGE)
        if not page:
            return
        for event in page:
            if event.seq > until:
                return
            yield event.seq, event.data
            after = event.seq
