"""The ACP dialect: the one place that turns the runtime's chunk stream into ACP ``session/update`` payloads.

| runtime chunk | ACP update |
|---|---|
| ``assistant_message`` delta | ``agent_message_chunk`` with the token |
| ``assistant_message`` final | the part of its text no delta carried (all of it in a replay, none live) |
| ``tool_call`` | ``tool_call`` (kind, title, absolute locations, ``rawInput``), status ``pending`` |
| ``tool_refused`` | ``tool_call`` with status ``failed`` and the reason as its content |
| ``agent_switched`` | ``current_mode_update`` (agents are the session's modes) |
| ``plan_approval_required`` / ``plan_progress`` | ``plan`` with every entry and its status |
| ``error`` | ``agent_message_chunk`` with the error's text (ACP has no error update) |
| ``message_reset`` | nothing at once: what follows is sent only past the text the client already shows |
| ``session_info``, ``status``, ``done`` | nothing (``done`` ends the turn; see ``turn``) |

``message_reset`` (another runtime replica took the turn over and runs the step again) asks a client to drop the
deltas of the abandoned attempt, and ACP has no update that takes text back. So the new attempt's text is held back
while it repeats what the client shows and sent from where it goes beyond; an attempt that says something else is
sent whole after a line saying the answer restarted (``RESTARTED``): the client never shows a text twice in a row.

Token deltas are the hot path: one dict literal each, no model objects.
"""

from __future__ import annotations

from typing import Any

from gateway.acp import tool_calls
from gateway.acp.json_values import as_list, as_object
from gateway.acp.workspace import Workspace

Update = dict[str, Any]

PLAN_STATUSES = {"in_progress": "in_progress", "completed": "completed", "pending": "pending"}
RESTARTED = "\n\n↻ (the answer restarted)\n\n"


def text_chunk(kind: str, text: str) -> Update:
    """``agent_message_chunk`` / ``user_message_chunk`` / ``agent_thought_chunk`` with one text block."""
    return {"sessionUpdate": kind, "content": {"type": "text", "text": text}}


class Translator:
    """One session's view of its chunk stream; stateful (the text streamed so far, the plan, the calls seen)."""

    __slots__ = ("_at", "_plan", "_plan_id", "_shown", "_streamed", "calls", "workspace")

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self._streamed: list[str] = []  # deltas since the last final message
        self._shown: str | None = None  # after a message_reset: the abandoned attempt's text the client shows
        self._at = 0  # how much of ``_shown`` the new attempt has repeated
        self._plan: list[dict[str, Any]] = []  # entries in order, each with the subtask id under "id"
        self._plan_id: str | None = None
        self.calls: dict[str, dict[str, Any]] = {}  # call id → the tool_call chunk, for the turn to run

    def streamed(self, text: str) -> None:
        """The text of the current message the client already has (a resumed prompt)."""
        self._streamed = [text] if text else []
        self._shown = None

    def updates(self, chunk: dict[str, Any]) -> list[Update]:
        kind = chunk.get("type")
        if kind == "assistant_message":
            return self._message(chunk)
        handler = _HANDLERS.get(kind) if isinstance(kind, str) else None
        return handler(self, chunk) if handler is not None else []

    def delta(self, token: Any) -> str | None:
        """A token delta: the text to send (noted as streamed), or None for an empty one."""
        if not isinstance(token, str) or not token:
            return None
        if self._shown is not None:
            return self._past_shown(token)
        self._streamed.append(token)
        return token

    def _reset(self, _chunk: dict[str, Any]) -> list[Update]:
        shown = "".join(self._streamed)
        self._streamed.clear()
        self._shown, self._at = shown or None, 0
        return []

    def _past_shown(self, token: str) -> str | None:
        """A delta of the attempt after a reset: None while it repeats the shown text, else what to send."""
        assert self._shown is not None
        shown, at = self._shown, self._at
        overlap = min(len(token), len(shown) - at)
        if token[:overlap] != shown[at : at + overlap]:  # another text: the client cannot take the shown one back
            self._shown = None
            self._streamed = [shown[:at], token]
            return RESTARTED + shown[:at] + token
        self._at = at + overlap
        if self._at < len(shown):
            return None
        self._shown = None  # repeated all of it: the rest is new
        self._streamed = [shown]
        rest = token[overlap:]
        if rest:
            self._streamed.append(rest)
        return rest or None

    def _message(self, chunk: dict[str, Any]) -> list[Update]:
        if chunk.get("is_final") is False:
            token = self.delta(chunk.get("token"))
            return [text_chunk("agent_message_chunk", token)] if token is not None else []
        content = chunk.get("content")
        streamed = "".join(self._streamed)
        self._streamed.clear()
        shown, self._shown = self._shown, None
        if not isinstance(content, str) or not content:
            return []
        if shown is not None:  # a reset, and the new attempt has not gone past the text the client shows
            if content == shown:
                return []
            if content.startswith(shown):
                return [text_chunk("agent_message_chunk", content[len(shown) :])]
            return [text_chunk("agent_message_chunk", RESTARTED + content)]
        if not streamed:
            return [text_chunk("agent_message_chunk", content)]
        if content.startswith(streamed) and len(content) > len(streamed):
            return [text_chunk("agent_message_chunk", content[len(streamed) :])]
        return []

    def _tool_call(self, chunk: dict[str, Any]) -> list[Update]:
        call_id, name, arguments = _call(chunk)
        if not call_id:
            return []
        self.calls[call_id] = chunk
        return [tool_calls.started(call_id, name, arguments, self.workspace)]

    def _tool_refused(self, chunk: dict[str, Any]) -> list[Update]:
        call_id, name, arguments = _call(chunk)
        reason = str(chunk.get("content") or "refused")
        update = tool_calls.started(call_id or "refused", name, arguments, self.workspace)
        update["status"] = "failed"
        update["content"] = [tool_calls.text(f"Refused: {reason}")]
        return [update]

    def _agent_switched(self, chunk: dict[str, Any]) -> list[Update]:
        target = chunk.get("to_agent") or as_object(chunk.get("metadata")).get("to_agent")
        return [{"sessionUpdate": "current_mode_update", "currentModeId": str(target)}] if target else []

    def _plan_proposed(self, chunk: dict[str, Any]) -> list[Update]:
        subtasks = as_list(as_object(chunk.get("plan_summary")).get("subtasks"))
        self._plan_id = str(chunk.get("plan_id") or "")
        self._plan = [
            {"id": str(s.get("id", n)), "content": subtask_text(s), "priority": "medium", "status": "pending"}
            for n, s in enumerate(subtasks)
            if isinstance(s, dict)
        ]
        return [self.plan_update()]

    def _plan_progress(self, chunk: dict[str, Any]) -> list[Update]:
        metadata = as_object(chunk.get("metadata"))
        status, subtask = metadata.get("status"), metadata.get("subtask_id")
        if not self._plan or (self._plan_id and chunk.get("plan_id") not in (None, self._plan_id)):
            return []
        if subtask is None and status in ("rejected", "modify"):
            self._plan = []  # the plan is gone: an empty plan clears it on the client
        elif subtask is None and status == "completed":
            for entry in self._plan:
                entry["status"] = "completed"
        elif subtask is not None and status in PLAN_STATUSES:
            for entry in self._plan:
                if entry["id"] == str(subtask):
                    entry["status"] = PLAN_STATUSES[status]
        else:
            return []
        return [self.plan_update()]

    def plan_update(self) -> Update:
        entries = [{key: entry[key] for key in ("content", "priority", "status")} for entry in self._plan]
        return {"sessionUpdate": "plan", "entries": entries}

    def _error(self, chunk: dict[str, Any]) -> list[Update]:
        message = chunk.get("content") or chunk.get("error")
        self._streamed.clear()
        self._shown = None
        return [text_chunk("agent_message_chunk", f"\n\n⚠ {message}\n")] if message else []


def _call(chunk: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    return str(chunk.get("call_id") or ""), str(chunk.get("tool_name") or "tool"), as_object(chunk.get("arguments"))


def subtask_text(subtask: dict[str, Any]) -> str:
    title = subtask.get("title") or subtask.get("description") or subtask.get("id") or "step"
    agent = subtask.get("agent")
    return f"{title} ({agent})" if agent else str(title)


_HANDLERS = {
    "tool_call": Translator._tool_call,
    "tool_refused": Translator._tool_refused,
    "agent_switched": Translator._agent_switched,
    "plan_approval_required": Translator._plan_proposed,
    "plan_progress": Translator._plan_progress,
    "error": Translator._error,
    "message_reset": Translator._reset,
}
