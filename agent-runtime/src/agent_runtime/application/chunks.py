"""Chunk builders: the flat JSON objects of the runtime's event stream (doc/contracts.md). Null keys are left out."""

from __future__ import annotations

from typing import Any

from agent_runtime.domain.agent_context import AgentSwitch
from agent_runtime.domain.plan import Plan

Chunk = dict[str, Any]

DURABLE = frozenset(
    {"session_info", "assistant_message", "tool_call", "agent_switched", "plan_approval_required", "plan_progress"}
    | {"tool_refused", "error", "done"}
)


def session_info(session_id: str) -> Chunk:
    return {"type": "session_info", "session_id": session_id}


def final_message(content: str, agent: str) -> Chunk:
    return {"type": "assistant_message", "content": content, "is_final": True, "metadata": {"agent": agent}}


def tool_call(call_id: str, tool_name: str, arguments: dict[str, Any], approval_id: str | None) -> Chunk:
    chunk: Chunk = {
        "type": "tool_call",
        "call_id": call_id,
        "tool_name": tool_name,
        "arguments": arguments,
        "requires_approval": approval_id is not None,
    }
    if approval_id is not None:
        chunk["approval_request_id"] = approval_id
    return chunk


def tool_refused(call_id: str, tool_name: str, arguments: dict[str, Any], reason: str, rule: str) -> Chunk:
    """A call the server's policy refused: never run; the model gets ``reason`` as the call's failed result."""
    return {
        "type": "tool_refused",
        "call_id": call_id,
        "tool_name": tool_name,
        "arguments": arguments,
        "content": reason,
        "metadata": {"rule": rule},
    }


def agent_switched(switch: AgentSwitch) -> Chunk:
    return {
        "type": "agent_switched",
        "from_agent": switch.from_agent,
        "to_agent": switch.to_agent,
        "reason": switch.reason,
        "content": f"Switched from {switch.from_agent} to {switch.to_agent}",
        "metadata": {
            "from_agent": switch.from_agent,
            "to_agent": switch.to_agent,
            "reason": switch.reason,
            "confidence": switch.confidence,
        },
    }


def plan_summary(plan: Plan) -> dict[str, Any]:
    return {
        "goal": plan.goal,
        "subtasks_count": len(plan.subtasks),
        "total_estimated_time": f"{plan.total_estimated_minutes} min",
        "subtasks": [
            {
                "id": s.id,
                "description": s.description,
                "agent": s.agent,
                "estimated_time": f"{s.estimated_minutes or 0} min",
                "dependencies": list(s.dependencies),
                "status": s.status.value,
            }
            for s in plan.subtasks
        ],
    }


def plan_approval_required(plan: Plan, approval_id: str) -> Chunk:
    return {
        "type": "plan_approval_required",
        "approval_request_id": approval_id,
        "plan_id": plan.id,
        "plan_summary": plan_summary(plan),
        "content": f"Plan: {plan.goal} ({len(plan.subtasks)} subtasks). Approve to start.",
    }


def plan_progress(plan_id: str, subtask_id: str, status: str, content: str) -> Chunk:
    return {
        "type": "plan_progress",
        "plan_id": plan_id,
        "content": content,
        "metadata": {"subtask_id": subtask_id, "status": status},
    }


def error(message: str, code: str) -> Chunk:
    return {"type": "error", "content": message, "error": message, "metadata": {"code": code}}


def done(stop_reason: str, usage: dict[str, int] | None) -> Chunk:
    usage = usage or {}
    return {
        "type": "done",
        "stop_reason": stop_reason,
        "usage": {
            "prompt_tokens": int(usage.get("prompt_tokens", 0)),
            "completion_tokens": int(usage.get("completion_tokens", 0)),
            "total_tokens": int(usage.get("total_tokens", 0)),
        },
    }
