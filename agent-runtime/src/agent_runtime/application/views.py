"""View models: the JSON-ready shapes the REST surface answers (ide-protocol.md §5)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from agent_runtime.domain.agent_context import AgentContext
from agent_runtime.domain.approval import Approval
from agent_runtime.domain.session import Session
from agent_runtime.domain.tool_call import IssuedToolCall

View = dict[str, Any]


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def session_view(session: Session) -> View:
    """The flat session object the IDE parses (never wrapped in ``{"session": …}``)."""
    return {
        "id": session.id,
        "title": session.title,
        "description": session.description,
        "message_count": session.message_count,
        "current_agent": session.current_agent,
        "is_active": session.is_active,
        "created_at": iso(session.created_at),
        "updated_at": iso(session.updated_at),
        "last_activity": iso(session.last_activity),
        "owner": session.owner,
    }


def approval_view(approval: Approval) -> View:
    return {
        "call_id": approval.call_id,
        "approval_request_id": approval.id,
        "kind": approval.kind.value,
        "tool_name": approval.tool_name,
        "arguments": approval.arguments,
        "reason": approval.reason,
        "plan_id": approval.plan_id,
        "status": approval.status.value,
        "created_at": iso(approval.created_at),
    }


def tool_call_view(call: IssuedToolCall) -> View:
    return {
        "call_id": call.call_id,
        "tool_name": call.tool_name,
        "arguments": call.arguments,
        "requires_approval": call.requires_approval,
        "created_at": iso(call.created_at),
    }


def agent_history_view(context: AgentContext) -> list[View]:
    return [
        {
            "from_agent": s.from_agent,
            "to_agent": s.to_agent,
            "reason": s.reason,
            "confidence": s.confidence,
            "switched_at": iso(s.switched_at),
        }
        for s in context.switches
    ]
