"""The answer of an idempotent repeat: the original request's chunks replayed from the event log (the live side of
a response is ``api.stream.ticket_frames``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from agent_runtime.application.ports import UnitOfWorkFactory
from agent_runtime.application.queries import events_after
from agent_runtime.application.replay import PAGE
from agent_runtime.runs.engine import Ticket


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
