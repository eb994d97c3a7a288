"""The one chunk builder module: every chunk of the runtime's event stream is built here (doc/contracts.md).

Chunks are flat JSON objects with null keys omitted (``without_nulls``, applied when a chunk is logged). Durable
chunks go to the session's event log with the state change they announce; the others (token deltas, status notes,
the ``done`` of a frame that changed nothing) only go live. The delta builder is on the hot path (one call per token)
and stays a bare dict literal.
"""

from __future__ import annotations

from typing import Any

from agent_runtime.domain.agent_context import AgentSwitch

Chunk = dict[str, Any]

# The chunk types written to the session's event log (the others only go live).
DURABLE = frozenset(
    {"session_info", "assistant_message", "tool_call", "agent_switched", "plan_approval_required", "plan_progress"}
    | {"tool_refused", "error", "done"}
)


def session_info(session_id: str) -> Chunk:
    return {"type": "session_info", "session_id": session_id}


def delta(token: str) -> Chunk:
    """A text delta of the running turn (not durable: folded into the final message)."""
    return {"type": "assistant_message", "token": token, "is_final": False}


def final_message(content: str, agent: str) -> Chunk:
    return {"type": "assistant_message", "content": content, "is_final": True, "metadata": {"agent": agent}}


def message_reset(reason: str) -> Chunk:
    """Drop the deltas received since the last durable chunk: their attempt was abandoned (its replica died) and the
    turn goes on with a new one (not durable: the log never held those deltas)."""
    return {"type": "message_reset", "reason": reason}


def status(content: str, **metadata: Any) -> Chunk:
    """A note about the stream itself (e.g. a message queued behind a running turn); not durable."""
    return {"type": "status", "content": content, "metadata": metadata}


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


def plan_approval_required(approval_id: str, plan_id: str, summary: dict[str, Any], content: str) -> Chunk:
    """A proposed plan awaits the user's decision; ``summary`` is the IDE's plan summary (``agents.plan_parsing``)."""
    return {
        "type": "plan_approval_required",
        "approval_request_id": approval_id,
        "plan_id": plan_id,
        "plan_summary": summary,
        "content": content,
    }


def plan_progress(plan_id: str, content: str, *, subtask_id: str | None, status: str) -> Chunk:
    return {
        "type": "plan_progress",
        "plan_id": plan_id,
        "content": content,
        "metadata": {"subtask_id": subtask_id, "status": status},
    }


def error(message: str, code: str) -> Chunk:
    return {"type": "error", "content": message, "error": message, "metadata": {"code": code}}


MODEL_CUT_OFF = frozenset({"length", "content_filter"})  # finish reasons a client is told about


def done(stop_reason: str, usage: dict[str, int] | None, model_finish: str | None = None) -> Chunk:
    """``model_finish``: the finish reason of the turn's last model call, kept only when the model was cut off
    (``length``: its token limit; ``content_filter``: the provider refused) so a client can say so."""
    usage = usage or {}
    chunk: Chunk = {
        "type": "done",
        "stop_reason": stop_reason,
        "usage": {
            "prompt_tokens": int(usage.get("prompt_tokens", 0)),
            "completion_tokens": int(usage.get("completion_tokens", 0)),
            "total_tokens": int(usage.get("total_tokens", 0)),
        },
    }
    if model_finish in MODEL_CUT_OFF:
        chunk["model_finish"] = model_finish
    return chunk


def without_nulls(chunk: Chunk) -> Chunk:
    """The contract omits null keys (also inside ``metadata``)."""
    out = {key: value for key, value in chunk.items() if value is not None}
    metadata = out.get("metadata")
    if isinstance(metadata, dict):
        out["metadata"] = {key: value for key, value in metadata.items() if value is not None}
    return out
