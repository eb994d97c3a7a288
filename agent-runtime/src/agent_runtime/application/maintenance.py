"""Housekeeping the runtime does on its own: expire idle sessions, and the loop that repeats such a job in the
background. (Runs a restart interrupted are taken over by ``RunEngine.recover``.)"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from agent_runtime.application.command_bus import CommandBus
from agent_runtime.application.commands import DeleteSession
from agent_runtime.application.ports import UnitOfWorkFactory
from agent_runtime.domain.errors import DomainError

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


async def periodically(job: Callable[[], Awaitable[int]], *, interval: float, what: str) -> None:
    """Run ``job`` every ``interval`` seconds until cancelled, logging how many items it handled; a failed pass is
    logged and the next one tries again."""
    while True:
        await asyncio.sleep(interval)
        try:
            handled = await job()
            if handled:
                _log.info(what, extra={"count": handled})
        except Exception:  # noqa: BLE001 - the next pass tries again
            _log.exception("%s: pass failed", what)
