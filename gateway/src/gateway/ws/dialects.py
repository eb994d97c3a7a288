"""The one place that turns the runtime's chunk stream into what each client generation renders.

v1 (default): what the existing IDE renders (reference §3), one bubble per frame: no token deltas, no content-less
frames, known keys always of the JSON type the IDE's model expects (a wrong type makes it drop the frame).
v2 (opt-in): every chunk, token deltas included, null keys omitted, each carrying the session's ``seq``.
"""

from __future__ import annotations

from typing import Any, Protocol

import orjson

Frame = dict[str, Any]

# Types the IDE renders from fields other than ``content``; everything else needs a non-empty ``content``.
_V1_STRUCTURED = frozenset({"tool_call", "agent_switched", "plan_approval_required", "session_info", "error"})
# Bookkeeping the IDE has no bubble for, even when it carries text (a "queued" status would be noise).
_V1_HIDDEN = frozenset({"status", "done", "heartbeat", "turn_completed"})
_V1_DROPPED_KEYS = ("token", "seq", "stop_reason", "usage")
_V1_OBJECT_KEYS = ("arguments", "result", "metadata")
_V1_STRING_KEYS = ("content", "role", "call_id", "tool_name", "error", "agent_type", "from_agent", "to_agent", "reason")


class Dialect(Protocol):
    """How one client generation sees the session's events."""

    version: int

    def translate(self, chunk: Frame, seq: int | None) -> Frame | None:
        """The frame to send for ``chunk``, or None when this dialect does not show it."""
        ...


class V2Dialect:
    """Everything, as the runtime said it, plus ``seq``."""

    version = 2

    def translate(self, chunk: Frame, seq: int | None) -> Frame | None:
        frame = {k: v for k, v in chunk.items() if v is not None}
        if seq is not None:
            frame["seq"] = seq
        return frame


class V1Dialect:
    """The IDE's dialect. ``announces_session``: the socket was opened on a ``new_*`` id (client B), the only case
    in which ``session_info`` is sent (client A would render it as an empty bubble)."""

    version = 1

    def __init__(self, *, announces_session: bool) -> None:
        self.announces_session = announces_session

    def translate(self, chunk: Frame, seq: int | None) -> Frame | None:
        kind = chunk.get("type")
        if kind == "assistant_message" and chunk.get("is_final") is False:
            return None
        if kind in _V1_HIDDEN or (kind == "session_info" and not self.announces_session):
            return None
        if kind == "tool_refused":
            return _v1_refusal(chunk)
        frame = {k: v for k, v in chunk.items() if v is not None and k not in _V1_DROPPED_KEYS}
        _fix_types(frame)
        shape = _SHAPERS.get(kind) if isinstance(kind, str) else None
        if shape is not None:
            shape(frame)
        if kind not in _V1_STRUCTURED and not frame.get("content"):
            return None  # done, status, heartbeats, empty messages: an empty bubble in the IDE
        return frame


def _v1_refusal(chunk: Frame) -> Frame:
    """The IDE has no refusal bubble: a refused call is an ``error`` bubble naming the tool and the reason (the turn
    goes on; the model was told the same reason)."""
    reason = chunk.get("content")
    reason = reason if isinstance(reason, str) and reason else "refused by the server's policy"
    return {"type": "error", "content": f"Refused {chunk.get('tool_name') or 'a tool call'}: {reason}"}


def _fix_types(frame: Frame) -> None:
    for key in _V1_OBJECT_KEYS:
        if key in frame and not isinstance(frame[key], dict):
            value = _as_object(frame[key])
            if value is None:
                del frame[key]
            else:
                frame[key] = value
    for key in _V1_STRING_KEYS:
        if key in frame and not isinstance(frame[key], str):
            frame[key] = orjson.dumps(frame[key]).decode()
    if "is_final" in frame and not isinstance(frame["is_final"], bool):
        del frame["is_final"]


def _as_object(value: Any) -> dict[str, Any] | None:
    """Tool arguments that arrive as a JSON string become the object the IDE requires."""
    if isinstance(value, str):
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError:
            return None
        return parsed if isinstance(parsed, dict) else None
    return None


def _shape_tool_call(frame: Frame) -> None:
    frame.setdefault("arguments", {})
    frame["requires_approval"] = bool(frame.get("requires_approval", False))


def _shape_agent_switched(frame: Frame) -> None:
    metadata = dict(frame.get("metadata") or {})
    for key in ("from_agent", "to_agent", "reason"):
        value = frame.get(key, metadata.get(key))
        if value is not None:
            frame[key] = str(value)
            metadata[key] = str(value)
    frame["metadata"] = metadata
    if not frame.get("content") and "from_agent" in frame and "to_agent" in frame:
        frame["content"] = f"{frame['from_agent']} → {frame['to_agent']}"


def _shape_error(frame: Frame) -> None:
    if not frame.get("content"):
        frame["content"] = frame.get("error") or "error"


def _shape_plan(frame: Frame) -> None:
    frame["approval_request_id"] = str(frame.get("approval_request_id") or "")
    frame["plan_id"] = str(frame.get("plan_id") or "")
    summary = frame.get("plan_summary")
    summary = dict(summary) if isinstance(summary, dict) else {}
    raw_subtasks = summary.get("subtasks")
    subtasks: list[Any] = raw_subtasks if isinstance(raw_subtasks, list) else []
    summary["subtasks"] = subtasks
    summary["goal"] = str(summary.get("goal") or "")
    count = summary.get("subtasks_count")
    summary["subtasks_count"] = count if isinstance(count, int) and not isinstance(count, bool) else len(subtasks)
    summary["total_estimated_time"] = str(summary.get("total_estimated_time") or "")
    frame["plan_summary"] = summary
    if not frame.get("content"):
        frame["content"] = summary["goal"] or "A plan needs your approval"


_SHAPERS = {
    "tool_call": _shape_tool_call,
    "agent_switched": _shape_agent_switched,
    "error": _shape_error,
    "plan_approval_required": _shape_plan,
}
