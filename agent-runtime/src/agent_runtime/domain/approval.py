"""A human decision the run waits for: a gated tool call or a plan. Its state machine lives here; what needs a
decision is the approval policy (``guardrails/approval_policy.py``), and the commands that open, decide, edit and
expire approvals are handled in ``application/approval_handlers.py``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from agent_runtime.domain.errors import Conflict, RuleViolation
from agent_runtime.domain.events import ApprovalDecided, ApprovalRequested, EventSource


class ApprovalKind(StrEnum):
    TOOL = "tool"
    PLAN = "plan"


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    APPROVED_WITH_EDITS = "approved_with_edits"
    REJECTED = "rejected"
    EXPIRED = "expired"


class Decision(StrEnum):
    APPROVE = "approve"
    EDIT = "edit"
    REJECT = "reject"


PLAN_TOOL_NAME = "create_plan"

# Starts the reason of the approval an edited call asks again for: the user sees it, and the model is told of the edit.
EDITED_REASON = "Edited by the user; "


@dataclass(kw_only=True)
class Approval(EventSource):
    """pending → approved / approved-with-edits / rejected / expired; decided once.

    ``tool_name`` is always a string: a plan approval carries ``create_plan`` so the IDE's list parse holds.
    """

    id: str
    session_id: str
    kind: ApprovalKind
    call_id: str
    tool_name: str
    arguments: dict[str, Any]
    reason: str | None
    created_at: datetime
    plan_id: str | None = None
    status: ApprovalStatus = ApprovalStatus.PENDING
    modified_arguments: dict[str, Any] | None = None
    feedback: str | None = None
    decided_at: datetime | None = None

    @classmethod
    def request(cls, **fields: Any) -> Approval:
        approval = cls(**fields)
        if approval.kind is ApprovalKind.PLAN and approval.plan_id is None:
            raise RuleViolation("a plan approval names its plan", code="missing_plan")
        approval.record(
            ApprovalRequested(
                session_id=approval.session_id,
                occurred_at=approval.created_at,
                approval_id=approval.id,
                kind=approval.kind.value,
                tool_name=approval.tool_name,
            )
        )
        return approval

    @property
    def is_pending(self) -> bool:
        return self.status is ApprovalStatus.PENDING

    @property
    def edited(self) -> bool:
        """The person edited the call: approved with edits, or asked again after an edit (:data:`EDITED_REASON`)."""
        return self.status is ApprovalStatus.APPROVED_WITH_EDITS or (self.reason or "").startswith(EDITED_REASON)

    @property
    def approved_arguments(self) -> dict[str, Any]:
        """The arguments the call runs with: the person's edit, if any."""
        return self.modified_arguments or self.arguments

    def outlived(self, ttl: timedelta, now: datetime) -> bool:
        """Still pending longer than ``ttl`` after it was requested (the store's ``stale`` query asks the same)."""
        return self.is_pending and now - self.created_at > ttl

    def decide(
        self,
        decision: Decision,
        *,
        now: datetime,
        modified_arguments: dict[str, Any] | None = None,
        feedback: str | None = None,
    ) -> None:
        if not self.is_pending:
            raise Conflict(f"approval {self.id} is already {self.status.value}", code="already_decided")
        if decision is Decision.EDIT and modified_arguments is None:
            raise RuleViolation("an edit decision carries modified_arguments", code="missing_arguments")
        self.status = {
            Decision.APPROVE: ApprovalStatus.APPROVED,
            Decision.EDIT: ApprovalStatus.APPROVED_WITH_EDITS,
            Decision.REJECT: ApprovalStatus.REJECTED,
        }[decision]
        self.modified_arguments = modified_arguments if decision is Decision.EDIT else None
        self.feedback = feedback
        self._close(now)

    def expire(self, now: datetime) -> None:
        if self.is_pending:
            self.status = ApprovalStatus.EXPIRED
            self._close(now)

    def _close(self, now: datetime) -> None:
        self.decided_at = now
        self.record(
            ApprovalDecided(session_id=self.session_id, occurred_at=now, approval_id=self.id, status=self.status.value)
        )
