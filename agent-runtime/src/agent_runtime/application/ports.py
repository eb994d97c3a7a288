"""What the application needs from the outside, as Protocols. SQLAlchemy implements them in infrastructure;
the tests implement them in memory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from agent_runtime.domain.agent_context import AgentContext
from agent_runtime.domain.approval import Approval
from agent_runtime.domain.events import DomainEvent
from agent_runtime.domain.message import Message
from agent_runtime.domain.plan import Plan
from agent_runtime.domain.run import Run
from agent_runtime.domain.session import Session
from agent_runtime.domain.tool_call import IssuedToolCall


@dataclass(frozen=True, slots=True)
class SessionPage:
    sessions: list[Session]
    total: int


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    seq: int
    type: str
    data: bytes
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AuditEntry:
    event_type: str
    category: str
    session_id: str | None
    payload: dict[str, Any]
    correlation_id: str | None
    causation_id: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class UsageEntry:
    session_id: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    duration_ms: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ClientMessage:
    """A user message sent with a client message id: its content digest and where its answer lies in the event log
    (``after_seq`` < its chunks ≤ ``done_seq``; ``done_seq`` None while it runs)."""

    session_id: str
    client_message_id: str
    digest: str
    after_seq: int
    created_at: datetime
    done_seq: int | None = None


@dataclass(frozen=True, slots=True)
class InboxEntry:
    """A user message queued for a session whose turn another replica ran when it arrived: ``frame`` is what is
    needed to run it (the message and its request's origin, as JSON); ``id`` orders a session's entries."""

    id: int
    session_id: str
    subject: str | None
    client_message_id: str
    frame: dict[str, Any]
    received_at: datetime


class SessionRepository(Protocol):
    """Sessions, including the per-session ``seq`` counter of the event log."""

    async def add(self, session: Session) -> None: ...
    async def get(self, session_id: str, *, include_deleted: bool = False) -> Session | None: ...
    async def save(self, session: Session) -> None: ...
    async def page(self, *, owner: str | None, active_only: bool, limit: int, offset: int) -> SessionPage: ...
    async def idle_since(self, before: datetime, limit: int) -> list[Session]: ...
    async def allocate_seq(self, session_id: str, count: int = 1) -> int:
        """Advance the counter by ``count`` and return its new value (the last seq allocated); 0 reads it."""
        ...


class MessageRepository(Protocol):
    """Append-only: appending costs the same at message 10 and 10,000."""

    async def append(self, session_id: str, position: int, message: Message) -> None: ...
    async def history(self, session_id: str, after: int = 0) -> list[Message]:
        """The messages in order; with ``after``, only those at positions after it (1-based positions)."""
        ...


class AgentContextRepository(Protocol):
    async def get(self, session: Session) -> AgentContext: ...
    async def save(self, context: AgentContext) -> None: ...


class ApprovalRepository(Protocol):
    async def add(self, approval: Approval) -> None: ...
    async def get(self, approval_id: str) -> Approval | None: ...
    async def for_call(self, session_id: str, call_id: str) -> Approval | None: ...
    async def save(self, approval: Approval) -> None: ...
    async def pending(self, session_id: str) -> list[Approval]: ...
    async def stale(self, before: datetime, limit: int) -> list[str]:
        """Ids of the (not deleted) sessions with an approval pending since before ``before``, oldest first."""
        ...


class PlanRepository(Protocol):
    async def add(self, plan: Plan) -> None: ...
    async def get(self, plan_id: str) -> Plan | None: ...
    async def save(self, plan: Plan) -> None: ...


class RunRepository(Protocol):
    async def add(self, run: Run) -> None: ...
    async def get(self, run_id: str) -> Run | None: ...
    async def save(self, run: Run) -> None: ...
    async def running(self) -> list[Run]: ...
    async def unleased(self) -> list[Run]:
        """The running runs no replica holds a live lease on (their writer died or stalled); on one process,
        where nothing takes leases, every running run."""
        ...


class ToolCallRepository(Protocol):
    async def add(self, call: IssuedToolCall) -> None: ...
    async def get(self, session_id: str, call_id: str) -> IssuedToolCall | None: ...
    async def save(self, call: IssuedToolCall) -> None: ...
    async def outstanding(self, session_id: str) -> list[IssuedToolCall]: ...


class ClientMessageRepository(Protocol):
    """One row per (session, client message id): a repeated submit finds the original."""

    async def add(self, record: ClientMessage) -> None: ...
    async def get(self, session_id: str, client_message_id: str) -> ClientMessage | None: ...
    async def finish(self, session_id: str, client_message_id: str, done_seq: int) -> None: ...


class InboxRepository(Protocol):
    """The per-session durable inbox (PostgreSQL replicas): an entry is consumed by deleting it in the transaction
    that appends its user message, so exactly one replica runs it."""

    async def add(
        self, session_id: str, subject: str | None, client_message_id: str, frame: dict[str, Any], received_at: datetime
    ) -> int | None:
        """The new entry's id; None when the session already holds an entry with this client message id."""
        ...

    async def get(self, session_id: str, client_message_id: str) -> InboxEntry | None: ...
    async def oldest(self, session_id: str) -> InboxEntry | None: ...
    async def remove(self, entry_id: int) -> bool:
        """Delete the entry; False when it is gone (consumed by another transaction, which then committed)."""
        ...

    async def waiting(self, limit: int) -> list[str]:
        """Ids of the sessions with entries, the longest waiting first."""
        ...


class EventLogRepository(Protocol):
    async def append(self, session_id: str, seq: int, type: str, data: bytes, created_at: datetime) -> None: ...
    async def after(self, session_id: str, seq: int, limit: int) -> list[LoggedEvent]: ...


class RecordRepository(Protocol):
    """The audit log and the usage table, with the aggregates the metrics endpoints read. ``owner`` narrows a read
    to the sessions that subject owns (None: every session)."""

    async def add_audit(self, entries: Sequence[AuditEntry]) -> None: ...
    async def audit(
        self, *, session_id: str | None, event_type: str | None, limit: int, owner: str | None = None
    ) -> list[AuditEntry]: ...
    async def add_usage(self, entry: UsageEntry) -> None: ...
    async def totals(self, session_id: str | None = None, *, owner: str | None = None) -> dict[str, Any]: ...
    async def per_session(self, limit: int, *, owner: str | None = None) -> list[dict[str, Any]]: ...


class UnitOfWork(Protocol):
    """One transaction. Repositories never commit; the handler commits once. Events collected from entities
    are delivered only after ``commit`` succeeded."""

    sessions: SessionRepository
    messages: MessageRepository
    agents: AgentContextRepository
    approvals: ApprovalRepository
    plans: PlanRepository
    runs: RunRepository
    tool_calls: ToolCallRepository
    events: EventLogRepository
    records: RecordRepository
    client_messages: ClientMessageRepository
    inbox: InboxRepository

    async def __aenter__(self) -> UnitOfWork: ...
    async def __aexit__(self, *exc: object) -> None: ...
    async def commit(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self, *, write: bool = True) -> UnitOfWork: ...


class LeaseLost(Exception):
    """Another replica took the session over while this one held it (it stalled longer than the lease): the step
    rolled back. ``committed``: the session's last seq when this hold last committed a step (None: it committed
    none), so whatever the new owner writes after that is its own."""

    def __init__(self, session_id: str, committed: int | None) -> None:
        super().__init__(f"another replica took session {session_id} over")
        self.session_id = session_id
        self.committed = committed


class WriterLock(Protocol):
    """One writer per session: held across a whole turn. Re-entrant within one task's context."""

    def hold(
        self, session_id: str, on_wait: Callable[[], Awaitable[object]] | None = None
    ) -> AbstractAsyncContextManager[None]:
        """Hold the session's lock; ``on_wait`` runs once when another replica holds it (this one must wait)."""
        ...

    def hold_if_free(self, session_id: str) -> AbstractAsyncContextManager[bool]:
        """Hold the lock if nobody does (True), else do not wait (False): a run marked running whose session lock
        is free has no live writer on any replica."""
        ...

    async def fence(self, uow: UnitOfWork, session_id: str) -> None:
        """Last thing before a step commits: when this task holds the session's lease, check (and renew) it in the
        step's own transaction, raising :class:`LeaseLost` if another replica holds it now; nothing otherwise."""
        ...


class LLMClient(Protocol):
    """Streams OpenAI chat-completion chunks; raises on an HTTP error, a stream error or a cut stream."""

    def stream_chat(
        self,
        *,
        model: str,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None = None,
        response_format: dict[str, Any] | None = None,
        session_id: str | None = None,
    ) -> AsyncIterator[dict[str, Any]]: ...


class EventSink(Protocol):
    async def __call__(self, events: Sequence[DomainEvent]) -> None: ...
