"""Approval expiry (``APPROVAL_TTL_SECONDS``): approvals nobody decided in time end as expired and their call is
answered. Every frame first expires its own session's (:func:`expire_stale`); in between, the sweeper
(:func:`expire_stale_approvals`) hands each session with such approvals to its own worker (the run engine), so the
expiry is serialized with that session's frames and takes its writer lock like any other step."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from agent_runtime.application.commands import ExpireApproval
from agent_runtime.application.ports import UnitOfWorkFactory
from agent_runtime.domain.message import ToolCall
from agent_runtime.runs.conversation import Conversation

if TYPE_CHECKING:  # the engine runs the frames that call expire_stale
    from agent_runtime.runs.engine import RunEngine


async def expire_stale(conv: Conversation, ttl: timedelta) -> int:
    """Expire the session's approvals pending longer than ``ttl`` and answer their open calls; returns how many."""
    step = conv.step
    expired = 0
    for approval in await step.uow.approvals.pending(conv.session.id):
        if not approval.outlived(ttl, step.now):
            continue
        expired += 1
        await step.execute(ExpireApproval(session_id=conv.session.id, approval_id=approval.id))
        if any(call.id == approval.call_id for call in conv.open_calls()):
            call = ToolCall(approval.call_id, approval.tool_name, {})
            await conv.answer(call, "Error: the user did not decide in time; the approval expired.")
    return expired


async def expire_stale_approvals(
    engine: RunEngine, uows: UnitOfWorkFactory, *, ttl: timedelta, now: datetime, batch: int = 100
) -> int:
    """The sweeper's pass: expire the approvals pending for longer than ``ttl``; returns in how many sessions. A busy
    session is left to its next frame, which expires them before anything else."""
    async with uows(write=False) as uow:
        sessions = await uow.approvals.stale(now - ttl, batch)
    tickets = [ticket for sid in sessions if (ticket := await engine.expire_approvals(sid)) is not None]
    ended = 0
    for ticket in tickets:  # one pass at a time: the next pass must not find these again
        if await ticket.done >= 0:
            ended += 1
    return ended
