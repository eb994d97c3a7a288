"""One writer per session: an asyncio lock inside the process, plus a PostgreSQL advisory lock so replicas on one
database serialize too. Re-entrant within one task's context, so a turn that holds the lock can run commands."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from agent_runtime.infrastructure.database import is_postgres


def advisory_key(session_id: str) -> int:
    """A stable signed 64-bit key for ``pg_advisory_lock`` (hashtext differs between major versions)."""
    return int.from_bytes(hashlib.blake2b(session_id.encode(), digest_size=8).digest(), "big", signed=True)


class SessionWriterLock:
    def __init__(self, engine: AsyncEngine | None = None) -> None:
        self._engine = engine if engine is not None and is_postgres(engine) else None
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}
        self._held: ContextVar[frozenset[str]] = ContextVar(f"held_{id(self)}", default=frozenset())

    @asynccontextmanager
    async def hold(self, session_id: str) -> AsyncIterator[None]:
        async with self._hold(session_id, wait=True):
            yield

    @asynccontextmanager
    async def hold_if_free(self, session_id: str) -> AsyncIterator[bool]:
        if session_id in self._locks:  # held or awaited in this process
            yield False
            return
        async with self._hold(session_id, wait=False) as free:
            yield free

    @asynccontextmanager
    async def _hold(self, session_id: str, *, wait: bool) -> AsyncIterator[bool]:
        held = self._held.get()
        if session_id in held:
            yield True
            return
        lock = self._locks.setdefault(session_id, asyncio.Lock())
        self._users[session_id] = self._users.get(session_id, 0) + 1
        try:
            async with lock, self._advisory(session_id, wait=wait) as free:
                if not free:
                    yield False
                    return
                token = self._held.set(held | {session_id})
                try:
                    yield True
                finally:
                    self._held.reset(token)
        finally:
            self._users[session_id] -= 1
            if not self._users[session_id]:  # forget idle sessions so the table does not grow without bound
                del self._users[session_id]
                del self._locks[session_id]

    @asynccontextmanager
    async def _advisory(self, session_id: str, *, wait: bool = True) -> AsyncIterator[bool]:
        if self._engine is None:
            yield True
            return
        key = advisory_key(session_id)
        # A session-level advisory lock belongs to one connection: keep that connection for the whole hold.
        async with self._engine.connect() as connection:
            if wait:
                await connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            else:
                result = await connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key})
                if not result.scalar_one():
                    await connection.commit()
                    yield False
                    return
            await connection.commit()
            try:
                yield True
            finally:
                await connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                await connection.commit()
