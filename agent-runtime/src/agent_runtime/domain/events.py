"""Domain events: one past-tense class per state change, raised by entities and published after commit."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, ClassVar


@dataclass(frozen=True, kw_only=True)
class DomainEvent:
    """Something that happened to a session. ``category`` groups events for subscribers and metrics."""

    category: ClassVar[str] = "session"
    session_id: str
    occurred_at: datetime

    @property
    def type(self) -> str:
        return type(self).__name__

    def payload(self) -> dict[str, Any]:
        """The event's own fields (JSON-ready), without the session id and timestamp."""
        skip = {"session_id", "occurred_at"}
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in skip}


@dataclass(frozen=True, kw_only=True)
class SessionCreated(DomainEvent):
    owner: str | None = None


@dataclass(frozen=True, kw_only=True)
class SessionRenamed(DomainEvent):
    title: str


@dataclass(frozen=True, kw_only=True)
class SessionDeleted(DomainEvent):
    reason: str = "requested"


@dataclass(frozen=True, kw_only=True)
class MessageAppended(DomainEvent):
    category: ClassVar[str] = "message"
    role: str
    position: int


@dataclass(frozen=True, kw_only=True)
class AgentSwitched(DomainEvent):
    category: ClassVar[str] = "agent"
    from_agent: str
    to_agent: str
    reason: str
    confidence: float | None = None


@dataclass(frozen=True, kw_only=True)
class ApprovalRequested(DomainEvent):
    category: ClassVar[str] = "approval"
    approval_id: str
    kind: str
    tool_name: str


@dataclass(frozen=True, kw_only=True)
class ApprovalDecided(DomainEvent):
    category: ClassVar[str] = "approval"
    approval_id: str
    status: str


@dataclass(frozen=True, kw_only=True)
class PlanCreated(DomainEvent):
    category: ClassVar[str] = "plan"
    plan_id: str
    subtasks: int


@dataclass(frozen=True, kw_only=True)
class PlanStatusChanged(DomainEvent):
    category: ClassVar[str] = "plan"
    plan_id: str
    status: str


@dataclass(frozen=True, kw_only=True)
class SubtaskStatusChanged(DomainEvent):
    category: ClassVar[str] = "plan"
    plan_id: str
    subtask_id: str
    status: str


@dataclass(frozen=True, kw_only=True)
class ToolCallIssued(DomainEvent):
    category: ClassVar[str] = "tool"
    call_id: str
    tool_name: str
    requires_approval: bool


@dataclass(frozen=True, kw_only=True)
class ToolResultRecorded(DomainEvent):
    category: ClassVar[str] = "tool"
    call_id: str
    tool_name: str
    is_error: bool


@dataclass(frozen=True, kw_only=True)
class RunStarted(DomainEvent):
    category: ClassVar[str] = "run"
    run_id: str
    agent: str


@dataclass(frozen=True, kw_only=True)
class RunStopped(DomainEvent):
    category: ClassVar[str] = "run"
    run_id: str
    stop_reason: str


@dataclass(frozen=True, kw_only=True)
class UsageRecorded(DomainEvent):
    category: ClassVar[str] = "usage"
    model: str
    prompt_tokens: int
    completion_tokens: int
    duration_ms: int


@dataclass(frozen=True, kw_only=True)
class SessionEventAppended(DomainEvent):
    """A chunk entered the session's event log (or, when not durable, only the live stream) with its ``seq``."""

    category: ClassVar[str] = "stream"
    seq: int
    data: bytes = field(repr=False)


@dataclass(kw_only=True)
class EventSource:
    """Base for entities: collects the events they raise until the unit of work pulls them after a command."""

    _events: list[DomainEvent] = field(default_factory=list, init=False, repr=False, compare=False)

    def record(self, event: DomainEvent) -> None:
        self._events.append(event)

    def pull_events(self) -> list[DomainEvent]:
        events, self._events = self._events, []
        return events
