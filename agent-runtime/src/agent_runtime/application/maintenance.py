"""Housekeeping the runtime does on its own: expire idle sessions, close runs a restart interrupted."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from agent_runtime.application.command_bus import Clock, CommandBus
from agent_runtime.application.commands import DeleteSession, FinishRun
from agent_runtime.application.ports import UnitOfWorkFactory
from agent_runtime.domain.errors import DomainError
from agent_runtime.domain.run import StopReason

_log = logging.getLogger("agent_runtime.maintenance")


async def expire_idle_sessions(
    commands: CommandBus, uows: UnitOfWorkFactory, *, ttl: timedelta, now: datetime, batch: int = 500
) -> int:
    """Soft-delete sessions idle for longer than ``ttl``; returns how many. Each goes through ``DeleteSession``
    under its own writer lock, so a session whose turn is running is not pulled away mid-turn."""
    async with uows(write=False) as uow:
        idle = await uow.sessions.idle_since(now - ttl, batch)
    expired = 0
    for session in idle:
        try:
            await commands.execute(DeleteSession(session_id=session.id, reason="expired"))
        except DomainError:
            continue  # deleted meanwhile
        expired += 1
    return expired


async def close_interrupted_runs(commands: CommandBus, uows: UnitOfWorkFactory) -> int:
    """Runs still marked running at start-up were cut off by a crash or restart: end them as failed, with an
    error and a ``done`` in the session's log, so a reader resuming the session sees a terminal event."""
    async with uows(write=False) as uow:
        running = await uow.runs.running()
    for run in running:
        await commands.execute(
            FinishRun(
                session_id=run.session_id,
                run_id=run.id,
                stop_reason=StopReason.ERROR,
                error="the runtime restarted during this turn; send the message again",
                error_code="interrupted",
            )
        )
    return len(running)


async def cleanup_loop(
    commands: CommandBus, uows: UnitOfWorkFactory, *, ttl: timedelta, interval: float, clock: Clock
) -> None:
    """Run ``expire_idle_sessions`` every ``interval`` seconds until cancelled; a failed pass is logged."""
    while True:
        await asyncio.sleep(interval)
        try:
            expired = await expire_idle_sessions(commands, uows, ttl=ttl, now=clock())
            if expired:
                _log.info("expired idle sessions", extra={"count": expired})
        except Exception:  # noqa: BLE001 - the next pass tries again
            _log.exception("session cleanup failed")
