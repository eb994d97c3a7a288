"""One writer per session: an asyncio lock inside the process, plus, on PostgreSQL, a lease on the session so replicas
on one database serialize too. Re-entrant within one task's context, so a turn that holds the lock can run commands.

The lease is a row of ``session_leases`` (owner, expiry on the database's clock): taken with one statement when free
or expired, renewed for every session this process holds by one heartbeat statement every third of
``lease_seconds``, deleted on release. No connection is held while a turn runs (the pool bounds connections, not
turns). A replica that dies stops renewing: its leases expire and another replica takes its turns over
(``RunEngine.recover``).

Fencing: a replica stalled longer than ``lease_seconds`` (GC, SIGSTOP, an overloaded host) may have lost a session to
another replica and not know it yet. So every step of a session held here checks the lease in its own transaction,
just before the commit (``fence``, one ``UPDATE … RETURNING`` that also renews it): if another replica owns it now,
the step raises :class:`LeaseLost` and rolls back; nothing it did is committed or published. The row lock the
statement takes makes the check and the commit one: a replica taking the lease over waits for that commit and then
finds the lease renewed. The owner alone decides (an expired lease nobody took is still this replica's own). The lost
lease is logged once per hold as ``session_lease_lost`` (by the fence or the heartbeat, whichever notices first)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar

from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncEngine

from agent_runtime.application.ports import LeaseLost, UnitOfWork
from agent_runtime.domain.session import SESSION_ID_LENGTH
from agent_runtime.infrastructure.database import is_postgres
from agent_runtime.infrastructure.unit_of_work import SqlAlchemyUnitOfWork

_log = logging.getLogger("agent_runtime.lease")

_TAKE = text(
    "INSERT INTO session_leases (session_id, owner, expires_at)"
    " VALUES (:session_id, :owner, now() + make_interval(secs => :seconds))"
    " ON CONFLICT (session_id) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at"
    " WHERE session_leases.expires_at < now() OR session_leases.owner = EXCLUDED.owner"
    " RETURNING owner"
)
_RELEASE = text("DELETE FROM session_leases WHERE session_id = :session_id AND owner = :owner")
_RENEW = text(
    "UPDATE session_leases SET expires_at = now() + make_interval(secs => :seconds)"
    " WHERE owner = :owner AND session_id IN :sessions RETURNING session_id"
).bindparams(bindparam("sessions", expanding=True))
_RELEASE_ALL = text("DELETE FROM session_leases WHERE owner = :owner")
_HOLDER_ELSEWHERE = text(
    "SELECT owner FROM session_leases WHERE session_id = :session_id AND owner <> :owner AND expires_at > now()"
)
# In the step's transaction, which may have begun before a stall: statement_timestamp(), not now() (its start).
# Also returns the session's last seq as this step commits it (``LeaseLost.committed``).
_FENCE = text(
    "UPDATE session_leases SET expires_at = statement_timestamp() + make_interval(secs => :seconds)"
    " WHERE session_id = :key AND owner = :owner"
    " RETURNING (SELECT last_seq FROM sessions WHERE id = :session_id)"
)
_FIRST_WAIT, _LONGEST_WAIT = 0.02, 0.25  # polling a lease another replica holds


def lease_key(session_id: str) -> str:
    """The session's row in ``session_leases``: its id, or a digest for an id longer than a session id can be (a
    hostile REST path reaches the lock before the session is looked up; it must not fail the statement)."""
    if len(session_id) <= SESSION_ID_LENGTH:
        return session_id
    return "#" + hashlib.blake2b(session_id.encode(errors="surrogatepass"), digest_size=16).hexdigest()


def replica_id() -> str:
    """This process's name as a lease owner: host, pid and a random part (a restarted process is a new owner)."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{secrets.token_hex(4)}"


class SessionWriterLock:
    def __init__(
        self, engine: AsyncEngine | None = None, *, lease_seconds: float = 10.0, replica: str | None = None
    ) -> None:
        self._engine = engine if engine is not None and is_postgres(engine) else None
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}
        self._held: ContextVar[frozenset[str]] = ContextVar(f"held_{id(self)}", default=frozenset())
        self.owner = replica or replica_id()
        self._stable = replica is not None
        self.lease_seconds = lease_seconds
        self._leased: set[str] = set()
        self._committed: dict[str, int] = {}  # held sessions: their last seq at this hold's last fenced step
        self._lost: set[str] = set()  # held sessions whose lease another replica took (logged once)
        self._heartbeat: asyncio.Task[None] | None = None
        self.on_lost: Callable[[], None] | None = None  # a lease lost (the metric), once per hold

    async def start(self) -> None:
        """Renew this process's leases while it runs (PostgreSQL). A replica with a stable name first takes back
        the leases its previous run left (that process is gone: a name runs once), so its interrupted turns are
        taken over at once instead of after ``lease_seconds``."""
        if self._engine is None or self._heartbeat is not None:
            return
        if self._stable:
            async with self._engine.begin() as connection:
                await connection.execute(_RELEASE_ALL, {"owner": self.owner})
        self._heartbeat = asyncio.create_task(self._renew_loop(), name="session-leases")

    async def aclose(self) -> None:
        """Stop renewing and give every lease back, so other replicas need not wait for them to expire."""
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
            self._heartbeat = None
        if self._engine is not None:
            with contextlib.suppress(Exception):
                async with self._engine.begin() as connection:
                    await connection.execute(_RELEASE_ALL, {"owner": self.owner})
        self._leased.clear()

    @asynccontextmanager
    async def hold(
        self, session_id: str, on_wait: Callable[[], Awaitable[object]] | None = None
    ) -> AsyncIterator[None]:
        async with self._hold(session_id, wait=True, on_wait=on_wait):
            yield

    @asynccontextmanager
    async def hold_if_free(self, session_id: str) -> AsyncIterator[bool]:
        if session_id in self._locks:  # held or awaited in this process
            yield False
            return
        async with self._hold(session_id, wait=False) as free:
            yield free

    async def fence(self, uow: UnitOfWork, session_id: str) -> None:
        """Check and renew the lease of a session this task holds, in ``uow``'s transaction (PostgreSQL; see the
        module's docstring); ``LeaseLost`` when another replica owns it now. Other steps (SQLite, or a session not
        held, e.g. its creation) run no statement."""
        if self._engine is None or session_id not in self._held.get():
            return
        assert isinstance(uow, SqlAlchemyUnitOfWork), "the lease fences units of work on its own database"
        params = {
            "key": lease_key(session_id),
            "owner": self.owner,
            "seconds": self.lease_seconds,
            "session_id": session_id,
        }
        row = (await uow.connection.execute(_FENCE, params)).first()
        if row is None:
            self._lose(session_id)
            raise LeaseLost(session_id, self._committed.get(session_id))
        self._committed[session_id] = int(row[0] or 0)

    def leased(self) -> int:
        """Sessions this process holds a lease on right now."""
        return len(self._leased)

    def holds(self, session_id: str) -> bool:
        """Whether this process holds the session's lease (runs its turn) right now."""
        return session_id in self._leased

    async def holder_elsewhere(self, session_id: str) -> str | None:
        """The other replica holding a live lease on the session (running its turn) right now; None if none is (and
        on SQLite)."""
        if self._engine is None:
            return None
        async with self._engine.connect() as connection:
            params = {"session_id": lease_key(session_id), "owner": self.owner}
            row = (await connection.execute(_HOLDER_ELSEWHERE, params)).first()
        return None if row is None else str(row[0])

    @asynccontextmanager
    async def _hold(
        self, session_id: str, *, wait: bool, on_wait: Callable[[], Awaitable[object]] | None = None
    ) -> AsyncIterator[bool]:
        held = self._held.get()
        if session_id in held:
            yield True
            return
        lock = self._locks.setdefault(session_id, asyncio.Lock())
        self._users[session_id] = self._users.get(session_id, 0) + 1
        try:
            async with lock, self._lease(session_id, wait=wait, on_wait=on_wait) as free:
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
    async def _lease(
        self, session_id: str, *, wait: bool, on_wait: Callable[[], Awaitable[object]] | None
    ) -> AsyncIterator[bool]:
        if self._engine is None:
            yield True
            return
        pause = _FIRST_WAIT
        while not await self._take(session_id):
            if not wait:
                yield False
                return
            if on_wait is not None:
                await on_wait()
                on_wait = None
            await asyncio.sleep(pause)  # another replica writes the session: its turn ends, or its lease expires
            pause = min(pause * 2, _LONGEST_WAIT)
        self._leased.add(session_id)
        try:
            yield True
        finally:
            self._leased.discard(session_id)
            self._committed.pop(session_id, None)
            self._lost.discard(session_id)
            await asyncio.shield(self._release(session_id))

    async def _take(self, session_id: str) -> bool:
        assert self._engine is not None
        params = {"session_id": lease_key(session_id), "owner": self.owner, "seconds": self.lease_seconds}
        async with self._engine.begin() as connection:
            return (await connection.execute(_TAKE, params)).first() is not None

    async def _release(self, session_id: str) -> None:
        assert self._engine is not None
        try:
            async with self._engine.begin() as connection:
                await connection.execute(_RELEASE, {"session_id": lease_key(session_id), "owner": self.owner})
        except Exception:  # noqa: BLE001 - the lease expires on its own; another replica may wait that long
            _log.warning("session_lease_not_released", extra={"session_id": session_id})

    async def _renew_loop(self) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            sessions = sorted(self._leased)
            if not sessions:
                continue
            try:
                async with self._engine.begin() as connection:  # type: ignore[union-attr]
                    keys = [lease_key(session_id) for session_id in sessions]
                    params = {"owner": self.owner, "seconds": self.lease_seconds, "sessions": keys}
                    renewed = {row[0] for row in await connection.execute(_RENEW, params)}
            except Exception:  # noqa: BLE001 - the next beat tries again (a third of the lease is left)
                _log.warning("session_lease_renewal_failed", exc_info=True)
                continue
            for lost in (session_id for session_id in sessions if lease_key(session_id) not in renewed):
                if lost in self._leased:  # not released meanwhile: another replica took it over
                    self._lose(lost)

    def _lose(self, session_id: str) -> None:
        if session_id in self._lost:
            return
        self._lost.add(session_id)
        _log.warning("session_lease_lost", extra={"session_id": session_id, "owner": self.owner})
        if self.on_lost is not None:
            self.on_lost()
