"""A tool call handed to the IDE, and its exactly-once result."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agent_runtime.domain.errors import RuleViolation
from agent_runtime.domain.events import EventSource, ToolCallIssued, ToolResultRecorded


@dataclass(kw_only=True)
class IssuedToolCall(EventSource):
    """Outstanding until its result arrives; a second result for the same call changes nothing."""

    call_id: str
    session_id: str
    tool_name: str
    arguments: dict[str, Any]
    requires_approval: bool
    created_at: datetime
    run_id: str | None = None
    approval_id: str | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    completed_at: datetime | None = None

    @classmethod
    def issue(cls, **fields: Any) -> IssuedToolCall:
        call = cls(**fields)
        call.record(
            ToolCallIssued(
                session_id=call.session_id,
                occurred_at=call.created_at,
                call_id=call.call_id,
                tool_name=call.tool_name,
                requires_approval=call.requires_approval,
            )
        )
        return call

    @property
    def is_outstanding(self) -> bool:
        return self.completed_at is None

    def complete(self, *, result: dict[str, Any] | None, error: str | None, now: datetime) -> bool:
        """Record the result; returns False (and changes nothing) when one was already recorded."""
        if (result is None) == (error is None):
            raise RuleViolation("a tool result carries exactly one of result or error", code="invalid_tool_result")
        if not self.is_outstanding:
            return False
        self.result, self.error, self.completed_at = result, error, now
        self.record(
            ToolResultRecorded(
                session_id=self.session_id,
                occurred_at=now,
                call_id=self.call_id,
                tool_name=self.tool_name,
                is_error=error is not None,
            )
        )
        return True
