"""A run: the current turn of a session, from the user's message to its stop point."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from agent_runtime.domain.errors import Conflict
from agent_runtime.domain.events import EventSource, RunStarted, RunStopped


class StopReason(StrEnum):
    """Where a run stops. Each value is also the ``stop_reason`` of the ``done`` chunk."""

    COMPLETED = "completed"
    TOOL_CALL = "tool_call"
    APPROVAL = "approval"
    PLAN_APPROVAL = "plan_approval"
    QUESTION = "question"
    CANCELLED = "cancelled"
    ERROR = "error"


class RunStatus(StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"


@dataclass(kw_only=True)
class Run(EventSource):
    """A run is running until it reaches a stop point. A stop at ``tool_call``/``approval``/``plan_approval``
    is resumable: the next tool result or decision starts a new run that continues the conversation."""

    id: str
    session_id: str
    agent: str
    started_at: datetime
    status: RunStatus = RunStatus.RUNNING
    stop_reason: StopReason | None = None
    error: str | None = None
    ended_at: datetime | None = None

    @classmethod
    def start(cls, *, run_id: str, session_id: str, agent: str, now: datetime) -> Run:
        run = cls(id=run_id, session_id=session_id, agent=agent, started_at=now)
        run.record(RunStarted(session_id=session_id, occurred_at=now, run_id=run_id, agent=agent))
        return run

    @property
    def is_running(self) -> bool:
        return self.status is RunStatus.RUNNING

    def stop(self, reason: StopReason, now: datetime, error: str | None = None) -> None:
        if not self.is_running:
            raise Conflict(f"run {self.id} already stopped ({self.stop_reason})", code="run_stopped")
        self.status = RunStatus.STOPPED
        self.stop_reason = reason
        self.error = error
        self.ended_at = now
        self.record(RunStopped(session_id=self.session_id, occurred_at=now, run_id=self.id, stop_reason=reason.value))
