"""The approval sweeper: approvals nobody decided within ``APPROVAL_TTL_SECONDS`` end without waiting for the
session's next frame. Each session is handed to its own worker (the run engine), so the expiry is serialized with
that session's frames and takes its writer lock like any other step."""

from __future__ import annotations

from datetime import datetime, timedelta

from agent_runtime.application.ports import UnitOfWorkFactory
from agent_runtime.runs.engine import RunEngine


async def expire_stale_approvals(
    engine: RunEngine, uows: UnitOfWorkFactory, *, ttl: timedelta, now: datetime, batch: int = 100
) -> int:
    """Expire the approvals pending for longer than ``ttl``; returns in how many sessions. A busy session is left
    to its next frame, which expires them before anything else."""
    async with uows(write=False) as uow:
        sessions = await uow.approvals.stale(now - ttl, batch)
    tickets = [ticket for sid in sessions if (ticket := await engine.expire_approvals(sid)) is not None]
    ended = 0
    for ticket in tickets:  # one pass at a time: the next pass must not find these again
        if await ticket.done >= 0:
            ended += 1
    return ended
