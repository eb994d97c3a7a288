"""The cross-replica relay of the live fan-out, and ``cancel`` anywhere, over PostgreSQL ``LISTEN/NOTIFY`` (ADR 8).

Two dedicated connections per replica, outside the pool: one publishes, one listens. What this replica produces is
queued by ``send`` (never waits: the hot path) and written in batches, one ``pg_notify`` statement per batch
(whatever queued while the previous batch was on the wire), on the session's channel. A session followed here is
listened to on its channel; a channel stays listened to for ``linger`` seconds after its last follower left, so a
session's requests one after another do not cost a ``LISTEN``/``UNLISTEN`` each.

Payload: ``<replica>|<kind>|<session_id>|<seq>|<chunk JSON>`` (session ids have no ``|``). A durable chunk too large
for a notification (PostgreSQL's limit is 8,000 bytes) goes as a reference (kind ``R``) and the listener reads it
from the log, holding the session's later chunks until then so followers still see seqs in order; a non-durable
chunk that large is not relayed (the final message carries the text).

Catch-up: a replica listens to a session only while it has followers of it, so a reader joining here in the middle of
a turn another replica runs missed the deltas sent before. The first reader of a session followed here
(``ready``) asks, if another replica holds the session's lease (``Leases.holder_elsewhere``, one query), with a
catch-up request (``<replica>|<session_id>`` on the channel ``codelab_catch_up`` every replica listens to, sent after
this replica listens to the session); the lease holder answers on the session's channel with the turn's kept chunks
(kind ``K``: ``<requester>|`` then ``<seq>:<length>:<chunk JSON>`` repeated, ``<length>`` in characters, as many
as fit a notification; the payload's seq field is ``1`` on the last one, which may carry none). The requester merges
them into its kept chunks by seq (``SessionFanout.catch_up``); the reader waits for the last one at most
``CATCH_UP_TIMEOUT``, looking at the lease every ``CATCH_UP_CHECK``: a holder that died does not answer, so once
its lease expired the reader goes on (or asks the replica that took the turn over). Chunks sent by the holder after
it answered come after the answer on its connection, so nothing falls between; duplicates are dropped by seq.
Nothing of this is on the per-delta path.

Notifications are fire-and-forget: what is sent while a connection is down is lost. So when the listening
connection comes back, every followed session's followers are ended (they resume from the log, like a follower that
fell behind), and when a batch could not be sent, its sessions' followers elsewhere are told to resume (kind ``W``)
once the publishing connection is back."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import asyncpg
from sqlalchemy.engine import make_url

from agent_runtime.application.fanout import Kind, SessionFanout

_log = logging.getLogger("agent_runtime.fanout")

CHANNEL_PREFIX = "codelab_"
CANCEL_CHANNEL = "codelab_cancel"
CATCH_UP_CHANNEL = "codelab_catch_up"
_CONTROL = (CANCEL_CHANNEL, CATCH_UP_CHANNEL)  # channels every replica listens to; their payloads name no seq
MAX_PAYLOAD = 7_900  # bytes; PostgreSQL refuses a NOTIFY payload of 8,000 bytes or more
MAX_PENDING = 100_000  # queued while the database is unreachable; beyond, followers elsewhere resume from the log
READY_TIMEOUT = 2.0
CATCH_UP_TIMEOUT = 5.0  # seconds a reader waits for the lease holder's catch-up answer (a saturated holder is slow)
CATCH_UP_CHECK = 0.25  # seconds between looks at the session's lease while the answer is awaited
_REFERENCE = "R"
_CAUGHT_UP = "K"  # relay-level kind, never delivered to a fan-out as such
_ITEMS_BUDGET = MAX_PAYLOAD - 200  # bytes of a catch-up answer's items: the header takes the rest
_NOTIFY = "SELECT pg_notify(c, p) FROM unnest($1::text[], $2::text[]) AS t(c, p)"
_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError)

LoadChunk = Callable[[str, int], Awaitable[bytes | None]]


class Leases(Protocol):
    """Who runs a session's turn (``SessionWriterLock``)."""

    def holds(self, session_id: str) -> bool: ...

    async def holder_elsewhere(self, session_id: str) -> str | None: ...


def channel(session_id: str) -> str:
    """The session's channel: a name is an identifier of at most 63 bytes, a session id may have 64 characters."""
    return CHANNEL_PREFIX + hashlib.blake2b(session_id.encode(), digest_size=8).hexdigest()


def asyncpg_dsn(database_url: str) -> str:
    """The SQLAlchemy URL (``postgresql+asyncpg://``) as a DSN asyncpg connects with."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


class PgRelay:
    def __init__(
        self,
        dsn: str,
        fanout: SessionFanout,
        load: LoadChunk,
        *,
        leases: Leases | None = None,
        linger: float = 10.0,
        retry: float = 1.0,
    ) -> None:
        self._dsn = dsn
        self._fanout = fanout
        self._load = load
        self._leases = leases  # None: no catch-up
        self._linger = linger
        self._retry = retry
        self.on_cancel: Callable[[str], None] | None = None
        self._me = secrets.token_hex(4)
        self._pending: list[tuple[str, str]] = []
        self._unsent: set[str] = set()  # sessions whose chunks were lost on the way out
        self._wrote = asyncio.Event()
        self._watched: dict[str, float | None] = {}  # session → None while followed, else when it was left
        self._ready: dict[str, asyncio.Event] = {}
        self._changed = asyncio.Event()
        self._held: dict[str, list[tuple[str, str, str]]] = {}  # session → chunks waiting behind a reference
        self._catch_ups: dict[str, asyncio.Task[None]] = {}  # session → its catch-up since it is followed here
        self._caught: dict[str, asyncio.Event] = {}  # session → set by the last part of the answer
        self._tasks: list[asyncio.Task[None]] = []
        self.up = False  # the listening connection is open

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._write_loop(), name="fanout-notify"),
            asyncio.create_task(self._listen_loop(), name="fanout-listen"),
        ]

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # --- outgoing -------------------------------------------------------------------------------------------------

    def send(self, kind: Kind, session_id: str, seq: int, data: bytes) -> None:
        if len(data) > MAX_PAYLOAD - 100:
            if kind is not Kind.DURABLE:
                return
            payload = f"{self._me}|{_REFERENCE}|{session_id}|{seq}|"
        else:
            payload = f"{self._me}|{kind.value}|{session_id}|{seq}|{data.decode()}"
        self._queue(channel(session_id), payload, session_id)

    def cancel(self, session_id: str) -> None:
        """Ask whichever replica runs the session's turn to cancel it."""
        self._queue(CANCEL_CHANNEL, f"{self._me}|{session_id}", None)

    def _queue(self, name: str, payload: str, session_id: str | None) -> None:
        if len(self._pending) >= MAX_PENDING:
            if session_id is not None:
                self._unsent.add(session_id)
            return
        self._pending.append((name, payload))
        self._wrote.set()

    async def _write_loop(self) -> None:
        connection: Any = None
        try:
            while True:
                await self._wrote.wait()
                self._wrote.clear()
                while self._pending or self._unsent:
                    batch, self._pending = self._pending, []
                    lost, self._unsent = self._unsent, set()
                    resume = [(channel(s), f"{self._me}|{Kind.RESUME.value}|{s}|0|") for s in sorted(lost)]
                    try:
                        if connection is None or connection.is_closed():
                            connection = await asyncpg.connect(self._dsn, timeout=5)
                        rows = resume + batch
                        await connection.execute(_NOTIFY, [c for c, _ in rows], [p for _, p in rows])
                    except _ERRORS as exc:
                        if not lost:
                            _log.warning("fanout_publish_failed", extra={"error": type(exc).__name__})
                        self._unsent = lost | {p.split("|", 3)[2] for c, p in batch if c not in _CONTROL}
                        connection = None
                        await asyncio.sleep(self._retry)
        finally:
            if connection is not None:
                with contextlib.suppress(Exception):
                    await connection.close()

    # --- incoming -------------------------------------------------------------------------------------------------

    def watch(self, session_id: str) -> None:
        self._watched[session_id] = None
        if session_id not in self._ready:
            self._ready[session_id] = asyncio.Event()
            self._changed.set()

    def unwatch(self, session_id: str) -> None:
        if session_id in self._watched:
            self._watched[session_id] = time.monotonic()
            self._catch_ups.pop(session_id, None)  # the fan-out drops the caught-up chunks with its last follower

    async def ready(self, session_id: str) -> None:
        event = self._ready.get(session_id)
        if event is not None and not event.is_set():
            with contextlib.suppress(TimeoutError):  # the database is unreachable: the reader reads the log anyway
                await asyncio.wait_for(event.wait(), READY_TIMEOUT)
        if self._leases is None or event is None or not event.is_set():
            return
        task = self._catch_ups.get(session_id)
        if task is None:
            task = self._catch_ups[session_id] = asyncio.create_task(self._catch_up(session_id))
        with contextlib.suppress(TimeoutError):  # the holder died: its lease expires and another replica takes over
            await asyncio.wait_for(asyncio.shield(task), CATCH_UP_TIMEOUT)

    async def _catch_up(self, session_id: str) -> None:
        """Ask the replica running the session's turn for its chunks so far; return once they are here. While
        waiting, the lease is looked at again: a holder that died does not answer, and once its lease expired the
        abandoned attempt's chunks are void (the replica taking over sends ``message_reset`` first, then its own
        chunks, which the new holder is asked for)."""
        assert self._leases is not None
        try:
            holder = await self._leases.holder_elsewhere(session_id)
        except Exception:  # noqa: BLE001 - the database is gone: the reader reads the log (or fails) anyway
            return
        done = self._caught[session_id] = asyncio.Event()
        try:
            async with asyncio.timeout(CATCH_UP_TIMEOUT):
                while holder is not None:
                    self._queue(CATCH_UP_CHANNEL, f"{self._me}|{session_id}", None)
                    asked = holder
                    while holder == asked:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(done.wait(), CATCH_UP_CHECK)
                        if done.is_set():
                            return
                        holder = await self._leases.holder_elsewhere(session_id)
        except TimeoutError:  # the holder is stalled: the reader goes on
            _log.info("fanout_catch_up_unanswered", extra={"session_id": session_id})
        except Exception:  # noqa: BLE001 - the database is gone: the reader reads the log (or fails) anyway
            return
        finally:
            if self._caught.get(session_id) is done:
                del self._caught[session_id]

    def _answer(self, session_id: str, requester: str) -> None:
        """Send the requester the kept chunks of the session's turn, as few notifications as fit."""
        name, head = channel(session_id), f"{self._me}|{_CAUGHT_UP}|{session_id}"
        parts: list[str] = []
        size = 0
        for seq, data in self._fanout.turn_so_far(session_id):
            if len(data) > _ITEMS_BUDGET - 40:
                continue  # not relayed either (see ``send``): the final message carries the text
            text = data.decode()
            item = f"{seq}:{len(text)}:{text}"
            if size + len(data) + 40 > _ITEMS_BUDGET:
                self._queue(name, f"{head}|0|{requester}|{''.join(parts)}", session_id)
                parts, size = [], 0
            parts.append(item)
            size += len(data) + 40
        self._queue(name, f"{head}|1|{requester}|{''.join(parts)}", session_id)

    def _caught_up(self, session_id: str, last: bool, items: str) -> None:
        parsed: list[tuple[int, bytes]] = []
        at = 0
        while at < len(items):
            seq_end = items.index(":", at)
            length_end = items.index(":", seq_end + 1)
            end = length_end + 1 + int(items[seq_end + 1 : length_end])
            parsed.append((int(items[at:seq_end]), items[length_end + 1 : end].encode()))
            at = end
        self._fanout.catch_up(session_id, parsed)
        if last and session_id in self._caught:
            self._caught[session_id].set()

    async def _listen_loop(self) -> None:
        reconnect = False
        while True:
            connection: Any = None
            try:
                connection = await asyncpg.connect(self._dsn, timeout=5)
                lost = asyncio.Event()
                connection.add_termination_listener(lambda _connection, lost=lost: lost.set())
                await connection.add_listener(CANCEL_CHANNEL, self._on_notify)
                await connection.add_listener(CATCH_UP_CHANNEL, self._on_notify)
                if reconnect:
                    _log.info("fanout_listening_again")
                await self._keep_listening(connection, lost, resume=reconnect)
            except _ERRORS as exc:
                if self.up or not reconnect:
                    _log.warning("fanout_listen_failed", extra={"error": type(exc).__name__})
            finally:
                self.up = False
                for event in self._ready.values():
                    event.clear()
                if connection is not None:
                    with contextlib.suppress(Exception):
                        await connection.close()
            reconnect = True
            await asyncio.sleep(self._retry)

    async def _keep_listening(self, connection: Any, lost: asyncio.Event, *, resume: bool) -> None:
        listening: set[str] = set()
        self.up = True
        first = True
        while not lost.is_set():
            self._changed.clear()
            now = time.monotonic()
            for session_id, left in list(self._watched.items()):
                name = channel(session_id)
                if left is not None and now - left >= self._linger:
                    del self._watched[session_id]
                    self._ready.pop(session_id, None)
                    if name in listening and not any(channel(s) == name for s in self._watched):
                        listening.discard(name)
                        await connection.remove_listener(name, self._on_notify)
                    continue
                if name not in listening:
                    await connection.add_listener(name, self._on_notify)
                    listening.add(name)
                self._ready[session_id].set()
            if first and resume:  # whatever was published while this replica was not listening is lost
                for session_id in list(self._watched):
                    self._fanout.deliver(Kind.RESUME, session_id, -1, b"")
            first = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._any(self._changed, lost), self._linger / 2)
        raise ConnectionError("the listening connection was closed")

    @staticmethod
    async def _any(*events: asyncio.Event) -> None:
        waits = [asyncio.ensure_future(event.wait()) for event in events]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()

    def _on_notify(self, _connection: Any, _pid: int, name: str, payload: str) -> None:
        if name == CANCEL_CHANNEL:
            sender, session_id = payload.split("|", 1)
            if sender != self._me and self.on_cancel is not None:
                self.on_cancel(session_id)
            return
        if name == CATCH_UP_CHANNEL:
            sender, session_id = payload.split("|", 1)
            if sender != self._me and self._leases is not None and self._leases.holds(session_id):
                self._answer(session_id, sender)
            return
        sender, kind, session_id, seq, data = payload.split("|", 4)
        if sender == self._me:
            return
        if kind == _CAUGHT_UP:
            requester, items = data.split("|", 1)
            if requester == self._me:
                self._caught_up(session_id, seq == "1", items)
            return
        held = self._held.get(session_id)
        if held is not None:
            held.append((kind, seq, data))
        elif kind == _REFERENCE:
            self._held[session_id] = [(kind, seq, data)]
            asyncio.get_running_loop().create_task(self._release(session_id))
        else:
            self._fanout.deliver(Kind(kind), session_id, int(seq), data.encode())

    async def _release(self, session_id: str) -> None:
        """Deliver the chunks held behind references in order, reading each referenced chunk from the log."""
        held = self._held[session_id]
        try:
            while held:
                kind, seq, data = held.pop(0)
                if kind != _REFERENCE:
                    self._fanout.deliver(Kind(kind), session_id, int(seq), data.encode())
                    continue
                try:
                    chunk = await self._load(session_id, int(seq))
                except Exception:  # noqa: BLE001 - the database is gone: followers resume from the log later
                    chunk = None
                if chunk is None:
                    self._fanout.deliver(Kind.RESUME, session_id, -1, b"")
                else:
                    self._fanout.deliver(Kind.DURABLE, session_id, int(seq), chunk)
        finally:
            del self._held[session_id]
