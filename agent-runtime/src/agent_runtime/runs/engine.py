"""The run engine: one worker task per busy session processes that session's frames in order.

A frame is submitted by the HTTP request, but processed by the session's worker, an asyncio task owned by the engine:
the run goes on to its stop point even when the request (the SSE subscriber) goes away. ``submit`` returns a
:class:`Ticket` whose ``done`` future resolves to the seq of the ``done`` chunk that ends this frame's work, before
that chunk reaches any follower, so a subscriber knows where its response ends.

A ``user_message`` that arrives while the session's worker is busy waits in the queue (a ``status`` chunk says so);
``cancel`` is not queued: it cancels the running work, which ends with ``done{stop_reason: "cancelled"}``.

Several replicas (PostgreSQL): a ``user_message`` that must wait for a turn another replica runs is first stored in
the session's durable inbox (``runs/inbox.py``), then the ``status`` goes out. Whichever replica holds the session's
lease next runs it, once: this one when its wait ends, or any replica's ``recover`` pass (this one died meanwhile).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from uuid import uuid4

from agent_runtime.agents.catalogue import UnknownAgent
from agent_runtime.application import chunks
from agent_runtime.application.command_bus import Origin
from agent_runtime.application.commands import ConsumeQueuedMessage, CreateSession, FinishRun, QueueMessage
from agent_runtime.application.event_bus import Envelope
from agent_runtime.application.ports import InboxEntry, LeaseLost, UnitOfWorkFactory, WriterLock
from agent_runtime.domain.errors import Conflict, NotFound
from agent_runtime.domain.run import StopReason
from agent_runtime.domain.session import Session
from agent_runtime.runs.client_messages import ClientMessageIds, first_done
from agent_runtime.runs.dispatch import Dispatcher
from agent_runtime.runs.frame_handlers import FrameHandlers
from agent_runtime.runs.frames import Cancel, ExpireApprovals, Frame, InvalidFrame, SwitchAgent, UserMessage
from agent_runtime.runs.inbox import queued, unqueued
from agent_runtime.runs.plan_flow import PlanFlow
from agent_runtime.runs.services import RunState, Services, Stop
from agent_runtime.runs.turn import Turns

_log = logging.getLogger("agent_runtime.runs")
_KNOWN_SESSIONS = 4096
_INBOX_PASS = 100  # sessions with queued messages looked at by one ``recover`` pass
_ATTEMPTS = 3  # a frame whose first step found the session taken over runs again, this many times in all
_LEASE_LOST = (
    "This replica stalled and another one took the session over in the middle of the turn; the turn was stopped. "
    "Send the message again."
)


@dataclass(eq=False)
class Ticket:
    """A submitted frame. When it was ``queued`` behind other work, a follower skips chunks before ``first`` (the
    first seq of this frame's own work, set before any follower sees it) except ``notice_seq``, its own ``status``.
    ``replay`` = (after, until): the durable answer in the event log, for an idempotent repeat."""

    done: asyncio.Future[int]
    queued: bool = False
    first: int | None = None
    notice_seq: int | None = None
    replay: tuple[int, int] | None = None

    def wants(self, seq: int) -> bool:
        """Whether a follower of this ticket forwards the chunk with ``seq``."""
        if not self.queued or seq == self.notice_seq:
            return True
        return self.first is not None and seq >= self.first


@dataclass(frozen=True, slots=True)
class TakeOver:
    """Internal work: drive on the run ``run_id`` whose process died (``recover``)."""

    run_id: str


@dataclass(frozen=True, slots=True)
class Drain:
    """Internal work: run the oldest message queued in the session's inbox (``recover``)."""


@dataclass(eq=False)
class _Work:
    frame: Frame | TakeOver | Drain
    origin: Origin
    ticket: Ticket
    followers: list[Ticket] = field(default_factory=list)  # cancel tickets that end with this work
    first_seq: int | None = None
    elsewhere: bool = False  # waiting for the session's turn on another replica


class _AlreadyQueued(Exception):
    """The session's inbox already holds a message with this client message id (sent through another replica)."""


@dataclass(eq=False)
class _Worker:
    queue: deque[_Work] = field(default_factory=deque)
    task: asyncio.Task[None] | None = None
    current: _Work | None = None
    current_task: asyncio.Task[None] | None = None


class RunEngine:
    def __init__(self, services: Services, uow_factory: UnitOfWorkFactory, lock: WriterLock) -> None:
        self._services = services
        plans = PlanFlow(services)
        dispatcher = Dispatcher(services, plans)
        self._turns = Turns(services, dispatcher, plans)
        self._handlers = FrameHandlers(services, self._turns, dispatcher, plans)
        self._uows = uow_factory
        self._lock = lock
        self._workers: dict[str, _Worker] = {}
        self._ids = ClientMessageIds(uow_factory)
        self._open: OrderedDict[str, Session] = OrderedDict()  # sessions seen lately, not deleted (open_session)
        self._closing = False
        # Several replicas: tells the others to cancel the session's turn (the one that runs it does, cancel_here).
        self.cancel_elsewhere: Callable[[str], None] | None = None
        self.on_takeover: Callable[[], None] | None = None  # a run of a dead replica is driven on here (a metric)
        self._inbox = False

    def use_inbox(self) -> None:
        """Several replicas on one database: a user message that waits for another replica's turn is queued in its
        session's durable inbox (module docstring). Off on SQLite (one process): nothing else is read or written."""
        self._inbox = self._ids.inbox = True

    async def open_session(
        self, session_id: str, origin: Origin | None = None, *, announce: bool = False, create: bool = True
    ) -> bool:
        """Make sure the session exists (created on first use when ``create``, else 404; ``announce`` logs
        ``session_info`` first) and that ``subject`` may use it. Returns whether it was created.

        Sessions seen recently are remembered (their owner never changes; a deletion makes the engine forget them,
        ``forget_session``), so a turn in a known session reads nothing here: the turn's own step loads the session
        anyway and still refuses a session deleted meanwhile (by another process: one runtime per database)."""
        origin = origin or Origin()
        subject = origin.subject
        known = self._open.get(session_id)
        if known is not None:
            self._open.move_to_end(session_id)
            known.check_access(subject)
            return False
        async with self._uows(write=False) as uow:  # the common case, a known session, takes no write lock
            known = await uow.sessions.get(session_id, include_deleted=True)
        if known is None:
            known = await self._create(session_id, origin, announce=announce, create=create)
            if known is None:
                return False
            self._remember(known)
            return True
        if known.deleted_at is not None:
            raise NotFound(f"session {session_id} was deleted")
        known.check_access(subject)
        self._remember(known)
        return False

    async def _create(self, session_id: str, origin: Origin, *, announce: bool, create: bool) -> Session | None:
        """Create the session in its own step; None when another request created it first (access checked)."""
        async with self._services.commands.step(session_id, origin) as step:
            session = await step.uow.sessions.get(session_id, include_deleted=True)
            if session is not None:
                if session.deleted_at is not None:
                    raise NotFound(f"session {session_id} was deleted")
                session.check_access(origin.subject)
                return None
            if not create:
                raise NotFound(f"session {session_id} not found")
            command = CreateSession(session_id=session_id, subject=origin.subject, announce=announce)
            created: Session = await step.execute(command)
        return created

    def _remember(self, session: Session) -> None:
        self._open[session.id] = session
        if len(self._open) > _KNOWN_SESSIONS:
            self._open.popitem(last=False)

    async def forget_session(self, envelope: Envelope) -> None:
        """Bus subscriber for ``SessionDeleted``: the next frame for it reads the session again (and gets 404)."""
        self._open.pop(envelope.event.session_id, None)

    async def submit(self, session_id: str, frame: Frame, origin: Origin | None = None) -> Ticket:
        """Queue ``frame`` for the session's worker. Raises before anything happens when the frame cannot be
        accepted: :class:`InvalidFrame` (400), ``RuleViolation`` (422), ``Conflict`` (409)."""
        self.check(frame)
        origin = origin or Origin()
        ticket = Ticket(asyncio.get_running_loop().create_future())
        if isinstance(frame, UserMessage) and frame.client_message_id is not None:
            answered = await self._ids.claim(session_id, frame.client_message_id, frame.content)
            if answered is not None:
                return Ticket(answered.done, replay=answered.replay)
        if isinstance(frame, UserMessage) and self._waits_elsewhere(session_id):
            frame = await self._queue_durably(session_id, frame, origin)  # behind a frame that waits for a replica
        # No await from here to the enqueue: the worker seen is the one that will run the frame.
        worker = self._workers.setdefault(session_id, _Worker())
        # A work whose done is out is finishing up: a frame after it is not "queued" behind anything.
        running = worker.current is not None and not worker.current.ticket.done.done()
        if isinstance(frame, Cancel) and running and worker.current_task is not None:
            assert worker.current is not None
            worker.current.followers.append(ticket)
            worker.current_task.cancel()
            return ticket
        if isinstance(frame, Cancel) and not running and self.cancel_elsewhere is not None:
            self.cancel_elsewhere(session_id)  # the turn may run on another replica; this cancel then finds it over
        ticket.queued = running or bool(worker.queue)
        ahead = len(worker.queue) + 1
        worker.queue.append(_Work(frame, origin, ticket))
        if worker.task is None:
            worker.task = asyncio.create_task(self._run(session_id, worker), name=f"run-{session_id}")
        if ticket.queued:
            notice = chunks.status("queued behind the running turn", code="queued", position=ahead)
            ticket.notice_seq = await self._services.stream.live(session_id, notice)
        return ticket

    def _waits_elsewhere(self, session_id: str) -> bool:
        worker = self._workers.get(session_id)
        return self._inbox and worker is not None and worker.current is not None and worker.current.elsewhere

    async def _queue_durably(self, session_id: str, frame: UserMessage, origin: Origin) -> UserMessage:
        """Store ``frame`` in the session's inbox (committed before the client hears it is queued); the frame that
        names its entry. A message sent without a client message id gets one, so that the replica that received it
        finds its answer if another replica runs it. Raises 409 when another replica queued the same id."""
        message_id = frame.client_message_id or f"inbox-{uuid4().hex}"
        command = QueueMessage(
            session_id=session_id, subject=origin.subject, client_message_id=message_id, frame=queued(frame, origin)
        )
        try:
            async with self._services.commands.step(session_id, origin, cause="QueueMessage") as step:
                entry: int = await step.execute(command)
        except Conflict:
            if frame.client_message_id is not None:
                self._ids.release(session_id, frame.client_message_id)
            raise
        _log.info("message queued for another replica's turn", extra={"session_id": session_id, "entry": entry})
        return replace(frame, client_message_id=message_id, inbox_id=entry)

    def cancel_here(self, session_id: str) -> None:
        """Another replica received a ``cancel`` for the session: cancel its running work if it runs here (it ends
        with ``done{stop_reason: "cancelled"}``, which reaches that replica's followers through the fan-out)."""
        worker = self._workers.get(session_id)
        if worker is None or worker.current is None or worker.current.ticket.done.done():
            return
        if worker.current_task is not None:
            worker.current_task.cancel()

    async def expire_approvals(self, session_id: str) -> Ticket | None:
        """Let the session's worker expire the approvals nobody decided in time (``error{approval_expired}`` +
        ``done``). None while the session is busy: its next frame expires them first thing anyway."""
        if self.busy(session_id):
            return None
        return await self.submit(session_id, ExpireApprovals())

    async def recover(self) -> int:
        """Take over the runs that were mid-generation when their process died: each is driven on from its last
        durable state by this process's worker for the session (the model is called again; a tool call already
        handed to the client is waited for, not issued again). At start-up, and periodically with several replicas
        (one that dies leaves its turns to the others). A run whose session lock someone holds has a live writer
        (this process or another replica) and is left alone. Returns how many runs were handed to a worker (one
        that ends meanwhile is not driven on: ``on_takeover`` counts those that are)."""
        async with self._uows(write=False) as uow:
            running = await uow.runs.unleased()  # one query, not a lease statement per live turn of every replica
        taken = 0
        for run in running:
            if self.busy(run.session_id):
                continue
            async with self._lock.hold_if_free(run.session_id) as free:
                pass  # the worker takes the lock again: between the two, another replica may win (then it skips)
            if free:
                await self.submit_takeover(run.session_id, run.id)
                taken += 1
        if self._inbox:
            await self._drain_inboxes()
        return taken

    async def _drain_inboxes(self) -> None:
        """Run the messages queued for sessions nobody writes: their receiving replica died while it waited (or
        gave up the race for the lease; then it relays this replica's answer)."""
        async with self._uows(write=False) as uow:
            waiting = await uow.inbox.waiting(_INBOX_PASS)
        for session_id in waiting:
            if self.busy(session_id):
                continue
            async with self._lock.hold_if_free(session_id) as free:
                pass  # the worker takes the lock again (as for a takeover)
            if free:
                self._submit_internal(session_id, Drain())

    async def submit_takeover(self, session_id: str, run_id: str) -> Ticket:
        return self._submit_internal(session_id, TakeOver(run_id))

    def _submit_internal(self, session_id: str, frame: TakeOver | Drain) -> Ticket:
        ticket = Ticket(asyncio.get_running_loop().create_future())
        worker = self._workers.setdefault(session_id, _Worker())
        worker.queue.append(_Work(frame, Origin(), ticket))
        if worker.task is None:
            worker.task = asyncio.create_task(self._run(session_id, worker), name=f"run-{session_id}")
        return ticket

    async def _take_over(self, session_id: str, work: _Work) -> None:
        """Drive an orphaned run on, if it still is one once this worker holds the session's lock."""
        assert isinstance(work.frame, TakeOver)
        async with self._lock.hold_if_free(session_id) as free:
            if not free:
                self._resolve(session_id, work, -1)
                return
            async with self._uows(write=False) as uow:
                run = await uow.runs.get(work.frame.run_id)
            if run is None or not run.is_running:
                self._resolve(session_id, work, -1)
                return
            _log.info("run taken over", extra={"session_id": session_id, "run_id": work.frame.run_id})
            if self.on_takeover is not None:
                self.on_takeover()
            await self._services.stream.live(session_id, chunks.message_reset("taken_over"))
            await self._turns.begin(RunState(run, work.origin), self._resolver(session_id, work)).drive()

    async def _drain(self, session_id: str, work: _Work) -> None:
        """Run the oldest message of the session's inbox, if this worker gets the session's lock; then look again."""
        async with self._lock.hold_if_free(session_id) as free:
            entry = None
            if free:
                async with self._uows(write=False) as uow:
                    entry = await uow.inbox.oldest(session_id)
            if entry is None:
                self._resolve(session_id, work, -1)
                return
            work.frame, work.origin = unqueued(entry)
            if not await self._run_entry(session_id, entry, self._resolver(session_id, work)):
                self._resolve(session_id, work, -1)
        self._submit_internal(session_id, Drain())

    async def _run_entry(self, session_id: str, entry: InboxEntry, resolve: Callable[[int], None]) -> bool:
        """Run a message of the session's inbox (its lock held); False when it cannot run and was dropped: its id
        was answered meanwhile (a resend through another replica), or the session was deleted."""
        frame, origin = unqueued(entry)
        assert frame.client_message_id is not None
        if await self._ids.answer(session_id, frame.client_message_id) is not None:
            await self._discard(session_id, entry.id)
            return False
        _log.info("queued message run", extra={"session_id": session_id, "entry": entry.id})
        try:
            await self._handlers.handle(session_id, frame, origin, resolve)
        except NotFound:
            await self._discard(session_id, entry.id)
            return False
        return True

    async def _run_older(self, session_id: str, work: _Work) -> None:
        """Before a frame queued in the session's inbox, the messages queued before it (by a replica that died while
        it waited) run: the inbox's order. Their chunks are not this frame's: its followers skip them."""
        frame = work.frame
        if not isinstance(frame, UserMessage) or frame.inbox_id is None:
            return
        work.first_seq = 0  # keeps the frame's first seq unset while they run
        try:
            while True:
                async with self._uows(write=False) as uow:
                    entry = await uow.inbox.oldest(session_id)
                if entry is None or entry.id >= frame.inbox_id:
                    return
                await self._run_entry(session_id, entry, lambda seq: None)
        finally:
            work.first_seq = None

    async def _discard(self, session_id: str, entry_id: int) -> None:
        """Drop an inbox entry that cannot run (its id was answered meanwhile, or the session is gone)."""
        with contextlib.suppress(Conflict):  # another replica dropped or ran it first
            async with self._services.commands.step(session_id, cause="ConsumeQueuedMessage") as step:
                await step.execute(ConsumeQueuedMessage(session_id=session_id, entry_id=entry_id))

    async def aclose(self) -> None:
        """Stop every worker; interrupted runs are taken over at the next start or by another replica (``recover``)."""
        self._closing = True
        tasks = [w.task for w in self._workers.values() if w.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def idle(self, session_id: str) -> None:
        """Wait until the session's worker has nothing left to do (its last ``done`` is out before that)."""
        worker = self._workers.get(session_id)
        if worker is not None and worker.task is not None:
            await asyncio.shield(worker.task)

    def busy(self, session_id: str) -> bool:
        worker = self._workers.get(session_id)
        return worker is not None and (worker.current is not None or bool(worker.queue))

    def check(self, frame: Frame) -> None:
        """Refuse (``InvalidFrame``) what the catalogue cannot serve: an unknown ``agent_type``."""
        catalogue = self._services.catalogue
        agent = frame.agent_type if isinstance(frame, SwitchAgent | UserMessage) else None
        if agent is not None and agent not in catalogue:
            known = ", ".join(a.id for a in catalogue)
            raise InvalidFrame(f"unknown agent_type {agent!r}; known: {known}", "message.agent_type")

    async def _run(self, session_id: str, worker: _Worker) -> None:
        try:
            while worker.queue:
                work = worker.queue.popleft()
                worker.current = work
                worker.current_task = asyncio.create_task(self._process(session_id, work))
                await asyncio.wait({worker.current_task})
                if worker.current_task.cancelled():
                    if not self._closing:
                        await self._after_cancel(session_id, work)
                elif worker.current_task.exception() is not None:
                    _log.error("run could not end cleanly", exc_info=worker.current_task.exception())
                    self._abandon(session_id, work)
                worker.current = worker.current_task = None
        finally:
            if worker.current_task is not None and not worker.current_task.done():
                worker.current_task.cancel()
            worker.task = None
            if not worker.queue and self._workers.get(session_id) is worker:
                del self._workers[session_id]
                self._services.stream.forget(session_id)

    async def _process(self, session_id: str, work: _Work) -> None:
        ticket = work.ticket

        def first_chunk(seq: int) -> None:
            if work.first_seq is None:
                work.first_seq = ticket.first = seq

        unwatch = self._services.stream.watch(session_id, first_chunk)
        failure = Stop(StopReason.ERROR, "The run failed inside the runtime.", "internal")
        try:
            await self._leased(session_id, work)
        except asyncio.CancelledError:
            raise
        except LeaseLost as lost:  # another replica owns the turn now; its done ends this work
            await self._left_to_new_owner(session_id, work, lost.committed)
            return
        except _AlreadyQueued:
            await self._refuse_duplicate(session_id, work)
        except UnknownAgent as exc:  # the configuration lost the session's agent: say so; the next message routes
            failure = Stop(StopReason.ERROR, str(exc), "unknown_agent")
        except Exception:  # noqa: BLE001 - a bug must still end the work with error + done
            _log.exception("run failed", extra={"session_id": session_id})
        finally:
            unwatch()
        if not ticket.done.done():
            await self._end(session_id, work, failure)

    async def _leased(self, session_id: str, work: _Work) -> None:
        """Do the work under the session's lease. When its first step finds the session taken over by another
        replica (this one stalled), nothing of it was kept: it runs again once the session is free."""
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                if isinstance(work.frame, TakeOver):
                    await self._take_over(session_id, work)
                elif isinstance(work.frame, Drain):
                    await self._drain(session_id, work)
                else:
                    async with self._lock.hold(session_id, self._waiting_notice(session_id, work)):
                        work.elsewhere = False
                        if await self._ran_elsewhere(session_id, work):
                            return
                        await self._run_older(session_id, work)
                        resolve = self._resolver(session_id, work)
                        await self._handlers.handle(session_id, work.frame, work.origin, resolve)
                return
            except LeaseLost as lost:
                if lost.committed is not None or attempt == _ATTEMPTS:
                    raise
                self._services.stream.seqs(session_id).drop_block()

    async def _left_to_new_owner(self, session_id: str, work: _Work, committed: int | None) -> None:
        """The session's lease went to another replica while this work ran (the lease was lost: logged and counted
        by the lock). That replica drives the run on (``recover``); this work writes nothing more and ends with the
        ``done`` that replica logs, which reaches the followers here through the fan-out. Only when nobody ended it
        (the new owner never took the run over) does this work end it, under the lease again: ``error{lease_lost}``
        + ``done``."""
        self._services.stream.seqs(session_id).drop_block()  # the rest of its live seqs may be the new owner's
        ticket = work.ticket
        if ticket.done.done():
            return
        if ticket.first is None and committed is not None:  # queued, no chunk of its own yet: the new owner's are
            ticket.first = committed + 1
        async with self._lock.hold(session_id):  # free once the new owner's work on the session is over
            done = None
            if committed is not None:
                async with self._uows(write=False) as uow:
                    done = await first_done(uow, session_id, committed)
            if done is None:
                await self._end(session_id, work, Stop(StopReason.ERROR, _LEASE_LOST, "lease_lost"))
                return
        _log.info("turn finished by the replica that took the session over", extra={"session_id": session_id})
        self._resolve(session_id, work, done)

    def _waiting_notice(self, session_id: str, work: _Work) -> Callable[[], Awaitable[None]] | None:
        """What the frame's followers hear when it waits for a turn another replica runs; from then on its stream
        skips that turn's chunks (relayed here) up to its own work, as for a frame queued behind a turn here. A
        cancel waits silently: it was sent on to that replica and ends with its turn."""
        if isinstance(work.frame, Cancel):
            return None
        status = chunks.status("queued behind the turn running on another replica", code="queued", position=1)

        async def notice() -> None:
            work.elsewhere = True
            frame = work.frame
            if self._inbox and isinstance(frame, UserMessage) and frame.inbox_id is None:
                try:
                    work.frame = await self._queue_durably(session_id, frame, work.origin)
                except Conflict:
                    raise _AlreadyQueued from None
            ticket = work.ticket
            ticket.queued = True
            ticket.notice_seq = await self._services.stream.live(session_id, status)
            work.first_seq = ticket.first = None  # the notice is not the frame's work: that starts with the lease

        return notice

    async def _ran_elsewhere(self, session_id: str, work: _Work) -> bool:
        """Whether the frame, queued in the session's inbox, was run by another replica while this one waited: its
        request then gets that answer from the log (the live stream ends, ``api.stream`` replays it)."""
        frame = work.frame
        if not isinstance(frame, UserMessage) or frame.inbox_id is None or frame.client_message_id is None:
            return False
        async with self._uows(write=False) as uow:
            entry = await uow.inbox.get(session_id, frame.client_message_id)
        if entry is not None and entry.id == frame.inbox_id:
            return False
        answer = await self._ids.answer(session_id, frame.client_message_id)
        _log.info("queued message answered by another replica", extra={"session_id": session_id})
        if answer is not None and answer[1] is not None:
            work.ticket.replay = (answer[0], answer[1])
            self._resolve(session_id, work, answer[1])
        else:  # its turn was cut short (that replica died): the takeover finishes it; the client resumes
            self._resolve(session_id, work, -1)
        self._services.stream.wake(session_id)
        return True

    async def _refuse_duplicate(self, session_id: str, work: _Work) -> None:
        """Another replica queued a message with the same client message id first: this one answers 409's error
        (not logged: nothing happened to the session)."""
        stream = self._services.stream
        message = "the message with this client_message_id is still being processed"
        await stream.live(session_id, chunks.error(message, "in_progress"))
        await stream.live(session_id, chunks.done(StopReason.ERROR.value, None), self._resolver(session_id, work))

    async def _after_cancel(self, session_id: str, work: _Work) -> None:
        with contextlib.suppress(Exception):
            await self._end(session_id, work, Stop(StopReason.CANCELLED))
        if not work.ticket.done.done():
            self._abandon(session_id, work)

    def _abandon(self, session_id: str, work: _Work) -> None:
        """The work could not even log its end (the database is gone): release its subscribers."""
        self._resolve(session_id, work, -1)
        self._services.stream.wake(session_id)

    async def _end(self, session_id: str, work: _Work, stop: Stop) -> None:
        """End the work with ``stop`` in a fresh step (``FinishRun``: its run, if one was started, is stopped)."""
        async with self._services.commands.step(session_id, work.origin) as step:
            running = [run.id for run in await step.uow.runs.running() if run.session_id == session_id]
            finish = FinishRun(
                session_id=session_id,
                run_id=running[-1] if running else None,
                reason=stop.reason,
                error=stop.error,
                code=stop.code,
            )
            done_seq: int = await step.execute(finish)
            step.before_publish.append(lambda _step: self._resolve(session_id, work, done_seq))

    def _resolver(self, session_id: str, work: _Work) -> Callable[[int], None]:
        return lambda seq: self._resolve(session_id, work, seq)

    def _resolve(self, session_id: str, work: _Work, seq: int) -> None:
        for ticket in (work.ticket, *work.followers):
            if not ticket.done.done():
                ticket.done.set_result(seq)
        frame = work.frame
        if isinstance(frame, UserMessage) and frame.client_message_id is not None:
            self._ids.release(session_id, frame.client_message_id)
