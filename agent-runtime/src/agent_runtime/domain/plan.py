"""A plan: a goal split into subtasks, each for one agent, approved by the user before it runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from agent_runtime.domain.errors import Conflict, RuleViolation
from agent_runtime.domain.events import EventSource, PlanCreated, PlanStatusChanged, SubtaskStatusChanged


class PlanStatus(StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class SubtaskStatus(StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"


_PLAN_MOVES = {
    PlanStatus.DRAFT: {PlanStatus.APPROVED, PlanStatus.CANCELLED},
    PlanStatus.APPROVED: {PlanStatus.IN_PROGRESS, PlanStatus.CANCELLED},
    PlanStatus.IN_PROGRESS: {PlanStatus.COMPLETED, PlanStatus.FAILED, PlanStatus.CANCELLED},
}
_SUBTASK_MOVES = {
    SubtaskStatus.PENDING: {SubtaskStatus.IN_PROGRESS, SubtaskStatus.SKIPPED},
    SubtaskStatus.IN_PROGRESS: {SubtaskStatus.COMPLETED, SubtaskStatus.FAILED},
}


@dataclass(kw_only=True)
class Subtask:
    id: str
    description: str
    agent: str
    estimated_minutes: int | None = None
    dependencies: tuple[str, ...] = ()
    status: SubtaskStatus = SubtaskStatus.PENDING


@dataclass(kw_only=True)
class Plan(EventSource):
    """draft → approved → in_progress → completed / failed; cancelled from any open state."""

    id: str
    session_id: str
    goal: str
    subtasks: list[Subtask]
    created_at: datetime
    updated_at: datetime
    status: PlanStatus = PlanStatus.DRAFT
    _index: dict[str, Subtask] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._index = {s.id: s for s in self.subtasks}
        if len(self._index) != len(self.subtasks):
            raise RuleViolation("subtask ids must be unique", code="invalid_plan")
        for subtask in self.subtasks:
            unknown = [d for d in subtask.dependencies if d not in self._index or d == subtask.id]
            if unknown:
                raise RuleViolation(f"subtask {subtask.id} depends on unknown {unknown}", code="invalid_plan")

    @property
    def is_open(self) -> bool:
        """Waiting for approval or running: a state it can still leave (cancelled from any of them)."""
        return self.status in _PLAN_MOVES

    @classmethod
    def draft(cls, *, plan_id: str, session_id: str, goal: str, subtasks: list[Subtask], now: datetime) -> Plan:
        if not goal.strip() or not subtasks:
            raise RuleViolation("a plan needs a goal and at least one subtask", code="invalid_plan")
        plan = cls(id=plan_id, session_id=session_id, goal=goal, subtasks=subtasks, created_at=now, updated_at=now)
        plan.record(PlanCreated(session_id=session_id, occurred_at=now, plan_id=plan_id, subtasks=len(subtasks)))
        return plan

    @property
    def total_estimated_minutes(self) -> int:
        return sum(s.estimated_minutes or 0 for s in self.subtasks)

    def move_to(self, status: PlanStatus, now: datetime) -> None:
        if status not in _PLAN_MOVES.get(self.status, set()):
            raise Conflict(f"plan {self.id} cannot go from {self.status} to {status}", code="invalid_transition")
        self.status = status
        self.updated_at = now
        self.record(PlanStatusChanged(session_id=self.session_id, occurred_at=now, plan_id=self.id, status=status))

    def next_subtask(self) -> Subtask | None:
        """The first pending subtask whose dependencies are all completed or skipped."""
        done = {SubtaskStatus.COMPLETED, SubtaskStatus.SKIPPED}
        for subtask in self.subtasks:
            ready = all(self._index[d].status in done for d in subtask.dependencies)
            if subtask.status is SubtaskStatus.PENDING and ready:
                return subtask
        return None

    def position(self, subtask_id: str) -> str:
        """Where the subtask stands in the plan, as the user reads it: ``2/5``."""
        index = next(i for i, subtask in enumerate(self.subtasks) if subtask.id == subtask_id)
        return f"{index + 1}/{len(self.subtasks)}"

    def move_subtask(self, subtask_id: str, status: SubtaskStatus, now: datetime) -> None:
        if self.status is not PlanStatus.IN_PROGRESS:
            raise Conflict(f"plan {self.id} is {self.status}, not in progress", code="invalid_transition")
        subtask = self._index.get(subtask_id)
        if subtask is None:
            raise RuleViolation(f"plan {self.id} has no subtask {subtask_id}", code="unknown_subtask")
        if status not in _SUBTASK_MOVES.get(subtask.status, set()):
            raise Conflict(
                f"subtask {subtask_id} cannot go from {subtask.status} to {status}", code="invalid_transition"
            )
        subtask.status = status
        self.updated_at = now
        self.record(
            SubtaskStatusChanged(
                session_id=self.session_id, occurred_at=now, plan_id=self.id, subtask_id=subtask_id, status=status
            )
        )
        if status is SubtaskStatus.FAILED:
            self.move_to(PlanStatus.FAILED, now)
        elif all(s.status in (SubtaskStatus.COMPLETED, SubtaskStatus.SKIPPED) for s in self.subtasks):
            self.move_to(PlanStatus.COMPLETED, now)
