"""Hand-written fakes: an in-memory unit of work (every repository as dicts) and a writer lock that records.
The fake model (the only one) is in ``fake_llm.py``."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from agent_runtime.application.ports import AuditEntry, ClientMessage, LoggedEvent, SessionPage, UsageEntry
from agent_runtime.domain.agent_context import AgentContext
from agent_runtime.domain.approval import Approval
from agent_runtime.domain.events import EventSource
from agent_runtime.domain.message import Message
from agent_runtime.domain.plan import Plan
from agent_runtime.domain.run import Run
from agent_runtime.domain.session import Session
from agent_runtime.domain.tool_call import IssuedToolCall

T = TypeVar("T")


def _stored(item: T) -> T:
    """A copy as a row holds it: the events the entity raised are not part of its state (a loaded one raises none)."""
    stored = copy.deepcopy(item)
    if isinstance(stored, EventSource):
        stored.pull_events()
    return stored


class FakeStore:
    """The 'database' the fake units of work share; a commit copies the working set back."""

    def __init__(self) -> None:
        self.sessions: dict[str, Session] = {}
        self.seqs: dict[str, int] = {}
        self.messages: dict[str, list[Message]] = {}
        self.switches: dict[str, list[Any]] = {}
        self.approvals: dict[str, Approval] = {}
        self.plans: dict[str, Plan] = {}
        self.runs: dict[str, Run] = {}
        self.tool_calls: dict[tuple[str, str], IssuedToolCall] = {}
        self.events: dict[str, list[LoggedEvent]] = {}
        self.audit: list[AuditEntry] = []
        self.usage: list[UsageEntry] = []
        self.client_messages: dict[tuple[str, str], ClientMessage] = {}
        self.commits = 0


class _Repos:
    def __init__(self, data: FakeStore) -> None:
        self.d = data

    # sessions
    async def add(self, session: Session) -> None:
        self.d.sessions[session.id] = _stored(session)
        self.d.seqs[session.id] = 0

    async def get(self, session_id: str, *, include_deleted: bool = False) -> Session | None:
        found = self.d.sessions.get(session_id)
        if found is None or (found.deleted_at is not None and not include_deleted):
            return None
        return copy.deepcopy(found)

    async def save(self, session: Session) -> None:
        self.d.sessions[session.id] = _stored(session)

    async def page(self, *, owner: str | None, active_only: bool, limit: int, offset: int) -> SessionPage:
        rows = [
            s
            for s in self.d.sessions.values()
            if s.deleted_at is None and (owner is None or s.owner == owner) and (s.is_active or not active_only)
        ]
        rows.sort(key=lambda s: s.last_activity, reverse=True)
        return SessionPage([copy.deepcopy(s) for s in rows[offset : offset + limit]], len(rows))

    async def idle_since(self, before: datetime, limit: int) -> list[Session]:
        rows = [s for s in self.d.sessions.values() if s.deleted_at is None and s.last_activity < before]
        return [copy.deepcopy(s) for s in rows[:limit]]

    async def allocate_seq(self, session_id: str, count: int = 1) -> int:
        self.d.seqs[session_id] += count
        return self.d.seqs[session_id]


class FakeUnitOfWork:
    def __init__(self, store: FakeStore) -> None:
        self._store = store

    async def __aenter__(self) -> FakeUnitOfWork:
        self._work = copy.deepcopy(self._store)
        work = self._work
        self.sessions = _Repos(work)
        self.messages = _Messages(work)
        self.agents = _Agents(work)
        self.approvals = _Approvals(work)
        self.plans = _Plans(work)
        self.runs = _Runs(work)
        self.tool_calls = _ToolCalls(work)
        self.events = _Events(work)
        self.records = _Records(work)
        self.client_messages = _ClientMessages(work)
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def commit(self) -> None:
        self._work.commits = self._store.commits + 1
        self._store.__dict__.update(copy.deepcopy(self._work.__dict__))


class _Messages:
    def __init__(self, d: FakeStore) -> None:
        self.d = d

    async def append(self, session_id: str, position: int, message: Message) -> None:
        rows = self.d.messages.setdefault(session_id, [])
        assert position == len(rows) + 1, "positions are consecutive"
        rows.append(message)

    async def history(self, session_id: str, after: int = 0) -> list[Message]:
        return list(self.d.messages.get(session_id, []))[after:]


class _Agents:
    def __init__(self, d: FakeStore) -> None:
        self.d = d

    async def get(self, session: Session) -> AgentContext:
        switches = list(self.d.switches.get(session.id, []))
        return AgentContext(session_id=session.id, current_agent=session.current_agent, switches=switches)

    async def save(self, context: AgentContext) -> None:
        self.d.switches[context.session_id] = list(context.switches)
        self.d.sessions[context.session_id].current_agent = context.current_agent


class _ByKey:
    field = "id"
    table = ""

    def __init__(self, d: FakeStore) -> None:
        self.d = d

    def _rows(self) -> dict[Any, Any]:
        rows: dict[Any, Any] = getattr(self.d, self.table)
        return rows

    async def add(self, item: Any) -> None:
        self._rows()[self._key(item)] = _stored(item)

    async def save(self, item: Any) -> None:
        self._rows()[self._key(item)] = _stored(item)

    def _key(self, item: Any) -> Any:
        return getattr(item, self.field)


class _Approvals(_ByKey):
    table = "approvals"

    async def get(self, approval_id: str) -> Approval | None:
        return copy.deepcopy(self.d.approvals.get(approval_id))

    async def for_call(self, session_id: str, call_id: str) -> Approval | None:
        found = [a for a in self.d.approvals.values() if a.session_id == session_id and a.call_id == call_id]
        return copy.deepcopy(found[-1]) if found else None

    async def pending(self, session_id: str) -> list[Approval]:
        return [copy.deepcopy(a) for a in self.d.approvals.values() if a.session_id == session_id and a.is_pending]

    async def stale(self, before: datetime, limit: int) -> list[str]:
        live = {s.id for s in self.d.sessions.values() if s.deleted_at is None}
        stale = sorted((a.created_at, a.session_id) for a in self.d.approvals.values() if a.is_pending)
        stale = [(created, sid) for created, sid in stale if sid in live]
        return list(dict.fromkeys(sid for created, sid in stale if created < before))[:limit]


class _Plans(_ByKey):
    table = "plans"

    async def get(self, plan_id: str) -> Plan | None:
        return copy.deepcopy(self.d.plans.get(plan_id))


class _Runs(_ByKey):
    table = "runs"

    async def get(self, run_id: str) -> Run | None:
        return copy.deepcopy(self.d.runs.get(run_id))

    async def running(self) -> list[Run]:
        return [copy.deepcopy(r) for r in self.d.runs.values() if r.is_running]

    async def unleased(self) -> list[Run]:
        return await self.running()  # nothing takes leases in memory


class _ToolCalls(_ByKey):
    table = "tool_calls"

    def _key(self, item: Any) -> Any:
        return (item.session_id, item.call_id)

    async def get(self, session_id: str, call_id: str) -> IssuedToolCall | None:
        return copy.deepcopy(self.d.tool_calls.get((session_id, call_id)))

    async def outstanding(self, session_id: str) -> list[IssuedToolCall]:
        return [c for (s, _), c in self.d.tool_calls.items() if s == session_id and c.is_outstanding]


class _Events:
    def __init__(self, d: FakeStore) -> None:
        self.d = d

    async def append(self, session_id: str, seq: int, type: str, data: bytes, created_at: datetime) -> None:
        self.d.events.setdefault(session_id, []).append(LoggedEvent(seq, type, data, created_at))

    async def after(self, session_id: str, seq: int, limit: int) -> list[LoggedEvent]:
        return [e for e in self.d.events.get(session_id, []) if e.seq > seq][:limit]


class _Records:
    def __init__(self, d: FakeStore) -> None:
        self.d = d

    async def add_audit(self, entries: Sequence[AuditEntry]) -> None:
        self.d.audit.extend(entries)

    async def audit(
        self, *, session_id: str | None, event_type: str | None, limit: int, owner: str | None = None
    ) -> list[AuditEntry]:
        rows = [
            e
            for e in reversed(self.d.audit)
            if (session_id is None or e.session_id == session_id)
            and (event_type is None or e.event_type == event_type)
            and (owner is None or self._owner(e.session_id) == owner)
        ]
        return rows[:limit]

    def _owner(self, session_id: str | None) -> str | None:
        session = self.d.sessions.get(session_id or "")
        return session.owner if session is not None else None

    async def add_usage(self, entry: UsageEntry) -> None:
        self.d.usage.append(entry)

    def _covers(self, session_id: str | None, only: str | None, owner: str | None) -> bool:
        return (only is None or session_id == only) and (owner is None or self._owner(session_id) == owner)

    async def totals(self, session_id: str | None = None, *, owner: str | None = None) -> dict[str, Any]:
        by_type: dict[str, int] = {}
        for entry in self.d.audit:
            if self._covers(entry.session_id, session_id, owner):
                by_type[entry.event_type] = by_type.get(entry.event_type, 0) + 1
        used = [u for u in self.d.usage if self._covers(u.session_id, session_id, owner)]
        return {
            "total_events": sum(by_type.values()),
            "events_by_type": by_type,
            "usage": {
                "llm_calls": len(used),
                "prompt_tokens": sum(u.prompt_tokens for u in used),
                "completion_tokens": sum(u.completion_tokens for u in used),
                "total_tokens": sum(u.total_tokens for u in used),
                "duration_ms": sum(u.duration_ms for u in used),
            },
        }

    async def per_session(self, limit: int, *, owner: str | None = None) -> list[dict[str, Any]]:
        live = [s for s in self.d.sessions.values() if s.deleted_at is None and (owner is None or s.owner == owner)]
        live.sort(key=lambda s: s.last_activity, reverse=True)
        return [
            {
                "session_id": s.id,
                "message_count": s.message_count,
                "current_agent": s.current_agent,
                "last_activity": s.last_activity.isoformat(),
                "is_active": s.is_active,
                "total_tokens": sum(u.total_tokens for u in self.d.usage if u.session_id == s.id),
            }
            for s in live[:limit]
        ]


class _ClientMessages:
    def __init__(self, d: FakeStore) -> None:
        self.d = d

    async def add(self, record: ClientMessage) -> None:
        key = (record.session_id, record.client_message_id)
        assert key not in self.d.client_messages, "primary key"
        self.d.client_messages[key] = record

    async def get(self, session_id: str, client_message_id: str) -> ClientMessage | None:
        return self.d.client_messages.get((session_id, client_message_id))

    async def finish(self, session_id: str, client_message_id: str, done_seq: int) -> None:
        record = self.d.client_messages[(session_id, client_message_id)]
        self.d.client_messages[(session_id, client_message_id)] = replace(record, done_seq=done_seq)


class FakeUnitOfWorkFactory:
    def __init__(self) -> None:
        self.store = FakeStore()

    def __call__(self, *, write: bool = True) -> FakeUnitOfWork:
        return FakeUnitOfWork(self.store)


class FakeLock:
    """Records which sessions were locked; no real exclusion needed by single-task handler tests."""

    def __init__(self) -> None:
        self.held: list[str] = []

    @asynccontextmanager
    async def hold(self, session_id: str, on_wait: Any = None) -> AsyncIterator[None]:
        self.held.append(session_id)
        yield

    @asynccontextmanager
    async def hold_if_free(self, session_id: str) -> AsyncIterator[bool]:
        self.held.append(session_id)
        yield True

    async def fence(self, uow: Any, session_id: str) -> None:
        """One process: nobody can take the session over."""


def user_message(content: str) -> Message:
    """A user message written now (for commands that append one)."""
    return Message(role="user", content=content, created_at=datetime.now(UTC))
