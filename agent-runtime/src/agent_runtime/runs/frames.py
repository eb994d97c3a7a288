"""The IDE frames a run accepts, parsed from ``message`` of ``POST /agent/message/stream``.

Unknown keys and explicit nulls are accepted (the IDE sends every key of its model, null when unused); a wrong type
or a missing field raises :class:`InvalidFrame`, which the route answers with 400 before any event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class InvalidFrame(Exception):
    """The frame cannot be processed; ``message`` says which field is wrong and ``param`` names it."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


@dataclass(frozen=True, slots=True)
class UserMessage:
    """``inbox_id``: never parsed; the entry of the session's durable inbox the message was queued as while another
    replica's turn held the session (``runs/inbox.py``): running it consumes that entry."""

    content: str
    agent_type: str | None = None
    client_message_id: str | None = None
    inbox_id: int | None = None


@dataclass(frozen=True, slots=True)
class ToolResult:
    call_id: str
    result: dict[str, Any] | None
    error: str | None
    tool_name: str | None = None


@dataclass(frozen=True, slots=True)
class SwitchAgent:
    agent_type: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class HitlDecision:
    call_id: str
    decision: str  # approve | edit | reject
    modified_arguments: dict[str, Any] | None = None
    feedback: str | None = None
    always: bool = (
        False  # approve/reject: also allow/refuse this exact call (one simple command or path) for the session
    )


@dataclass(frozen=True, slots=True)
class PlanDecision:
    decision: str  # approve | reject | modify
    approval_request_id: str | None = None
    plan_id: str | None = None
    feedback: str | None = None


@dataclass(frozen=True, slots=True)
class Cancel:
    """Cancel the running turn."""


@dataclass(frozen=True, slots=True)
class ExpireApprovals:
    """Internal (never parsed from a request): the approval sweeper asks the session's worker to expire the
    approvals nobody decided in time."""


Frame = UserMessage | ToolResult | SwitchAgent | HitlDecision | PlanDecision | Cancel | ExpireApprovals


def parse_frame(message: Any) -> Frame:
    """The typed frame for one IDE message object."""
    if not isinstance(message, dict):
        raise InvalidFrame("'message' must be a JSON object", "message")
    kind = message.get("type")
    parser = _PARSERS.get(kind) if isinstance(kind, str) else None
    if parser is None:
        raise InvalidFrame(f"unknown message type {kind!r}; expected one of {', '.join(_PARSERS)}", "message.type")
    return parser(message)


def _text(message: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    value = message.get(key)
    if value is None:
        if required:
            raise InvalidFrame(f"'{key}' is required", f"message.{key}")
        return None
    if not isinstance(value, str):
        raise InvalidFrame(f"'{key}' must be a string", f"message.{key}")
    if required and not value.strip():
        raise InvalidFrame(f"'{key}' must not be empty", f"message.{key}")
    return value


_NAME_LENGTH = 128  # the widest id column (call ids, client message ids)


def _name(message: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    """A string that names something (an id, an agent, a decision): text of at most 128 characters, without NUL
    (no name holds one, and PostgreSQL can neither store nor look one up)."""
    value = _text(message, key, required=required)
    if value is not None and "\x00" in value:
        raise InvalidFrame(f"'{key}' must not contain a NUL character (U+0000)", f"message.{key}")
    if value is not None and len(value) > _NAME_LENGTH:
        raise InvalidFrame(f"'{key}' is longer than {_NAME_LENGTH} characters", f"message.{key}")
    return value


def _object(message: dict[str, Any], key: str) -> dict[str, Any] | None:
    value = message.get(key)
    if value is not None and not isinstance(value, dict):
        raise InvalidFrame(f"'{key}' must be a JSON object", f"message.{key}")
    return value


def _user_message(message: dict[str, Any]) -> UserMessage:
    content = _text(message, "content", required=True)
    assert content is not None
    client_id = message.get("client_message_id")
    if client_id is not None and not isinstance(client_id, str | int):
        raise InvalidFrame("'client_message_id' must be a string", "message.client_message_id")
    if isinstance(client_id, str):
        _name(message, "client_message_id")
    agent_type = _name(message, "agent_type") or None
    return UserMessage(content, agent_type, None if client_id is None else str(client_id))


def _tool_result(message: dict[str, Any]) -> ToolResult:
    call_id = _name(message, "call_id", required=True)
    assert call_id is not None
    result, error = _object(message, "result"), message.get("error")
    if error is not None and not isinstance(error, str):
        error = str(error)
    if (result is None) == (error is None):
        raise InvalidFrame("a tool_result carries exactly one of 'result' (object) or 'error' (string)", "message")
    return ToolResult(call_id, result, error, _name(message, "tool_name"))


def _switch_agent(message: dict[str, Any]) -> SwitchAgent:
    agent = _name(message, "agent_type", required=True)
    assert agent is not None
    return SwitchAgent(agent.strip(), _text(message, "reason"))


def _hitl_decision(message: dict[str, Any]) -> HitlDecision:
    call_id = _name(message, "call_id", required=True)
    decision = _name(message, "decision", required=True)
    assert call_id is not None
    assert decision is not None
    if decision not in ("approve", "edit", "reject"):
        raise InvalidFrame("'decision' must be approve, edit or reject", "message.decision")
    modified = _object(message, "modified_arguments")
    if decision == "edit" and modified is None:
        raise InvalidFrame("an edit decision needs 'modified_arguments' (object)", "message.modified_arguments")
    always = message.get("always")
    if always is not None and not isinstance(always, bool):
        raise InvalidFrame("'always' must be a boolean", "message.always")
    if always and decision == "edit":
        raise InvalidFrame("'always' goes with the decision approve or reject", "message.always")
    return HitlDecision(call_id, decision, modified, _text(message, "feedback"), bool(always))


def _plan_decision(message: dict[str, Any]) -> PlanDecision:
    decision = _name(message, "decision", required=True)
    assert decision is not None
    if decision not in ("approve", "reject", "modify"):
        raise InvalidFrame("'decision' must be approve, reject or modify", "message.decision")
    return PlanDecision(
        decision,
        _name(message, "approval_request_id") or None,
        _name(message, "plan_id") or None,
        _text(message, "feedback"),
    )


def _cancel(message: dict[str, Any]) -> Cancel:
    return Cancel()


_PARSERS: dict[str, Callable[[dict[str, Any]], Frame]] = {
    "user_message": _user_message,
    "tool_result": _tool_result,
    "switch_agent": _switch_agent,
    "hitl_decision": _hitl_decision,
    "plan_decision": _plan_decision,
    "cancel": _cancel,
}
