"""``session/load``: the whole conversation replayed as ``session/update`` notifications before the answer.

The source is the runtime's history (``GET /sessions/{id}/history``, the messages in OpenAI form): user messages,
the agents' text, every tool call with its final status (from its result: ``Error: …`` is ``failed``) and plans
(``create_plan`` calls; an approved plan's entries completed as far as its steps ran, the steps themselves as
``agent_thought_chunk``). The runtime's own tools that only steer the loop (``attempt_completion``,
``ask_followup_question``, ``switch_mode``) are not shown: their text is already an agent message.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import orjson

from gateway.acp import tool_calls
from gateway.acp.json_values import as_list, as_object
from gateway.acp.session import AcpSession
from gateway.acp.updates import subtask_text, text_chunk

STEERING_TOOLS = frozenset({"attempt_completion", "ask_followup_question", "switch_mode"})
PLAN_TOOL = "create_plan"
PLAN_STEP = re.compile(r"\[Plan step (\d+)/(\d+)\]")
Update = dict[str, Any]


async def replay_session(session: AcpSession) -> None:
    history = await session.link.rest("GET", f"/sessions/{quote(session.id, safe='')}/history")
    messages = [m for m in as_list(history.get("messages")) if isinstance(m, dict)]
    replay = Replay(
        session, {str(m.get("tool_call_id")): m.get("content") for m in messages if m.get("role") == "tool"}
    )
    for message in messages:
        for update in replay.updates(message):
            await session.notify(update)
    for update in replay.finish():
        await session.notify(update)


class Replay:
    """The updates of one history, in order; ``results`` maps call ids to their tool messages."""

    def __init__(self, session: AcpSession, results: dict[str, Any]) -> None:
        self.session = session
        self.results = results
        self.plan: list[Update] = []  # the latest approved plan's entries
        self.step: tuple[int, int] | None = None  # (k, n) of the plan step that ran last
        self.step_answered = False

    def updates(self, message: dict[str, Any]) -> list[Update]:
        role, content = message.get("role"), message.get("content")
        text = content if isinstance(content, str) else ""
        if role == "user" and text:
            step = PLAN_STEP.match(text)
            if step is not None:
                return [*self._step(int(step.group(1)), int(step.group(2))), text_chunk("agent_thought_chunk", text)]
            return [*self.finish(), text_chunk("user_message_chunk", text)]
        if role != "assistant":
            return []
        self.step_answered = self.step is not None
        updates = [text_chunk("agent_message_chunk", text)] if text else []
        for call in as_list(message.get("tool_calls")):
            updates.extend(self._call(as_object(call)))
        return updates

    def finish(self) -> list[Update]:
        """A plan whose last step was answered is complete."""
        if not self.plan or self.step is None or self.step[0] != self.step[1] or not self.step_answered:
            return []
        self.step = None
        return [self._plan_update(len(self.plan) + 1)]

    def _step(self, number: int, total: int) -> list[Update]:
        self.step, self.step_answered = (number, total), False
        return [self._plan_update(number)] if self.plan else []

    def _plan_update(self, running: int) -> Update:
        """Entries before step ``running`` completed, that one in progress, the rest pending."""
        for n, entry in enumerate(self.plan, start=1):
            entry["status"] = "completed" if n < running else ("in_progress" if n == running else "pending")
        return {"sessionUpdate": "plan", "entries": [dict(entry) for entry in self.plan]}

    def _call(self, call: dict[str, Any]) -> list[Update]:
        function = as_object(call.get("function"))
        call_id, name = str(call.get("id") or ""), str(function.get("name") or "")
        arguments = _arguments(function.get("arguments"))
        if name in STEERING_TOOLS or not call_id or not name:
            return []
        result = self.results.get(call_id)
        if name == PLAN_TOOL:
            return self._plan_proposed(arguments, result)
        update = tool_calls.started(call_id, name, arguments, self.session.workspace)
        if isinstance(result, str):
            failed = result.startswith("Error:")
            update["status"] = "failed" if failed else "completed"
            update["content"] = [tool_calls.text(result if failed else _result_text(name, result))]
        return [update]

    def _plan_proposed(self, arguments: dict[str, Any], result: Any) -> list[Update]:
        """The plan as proposed; one the user did not approve is cleared again (an empty plan)."""
        entries = [
            {"content": subtask_text(s), "priority": "medium", "status": "pending"}
            for s in as_list(arguments.get("subtasks"))
            if isinstance(s, dict)
        ]
        approved = isinstance(result, str) and "approved" in result and not result.startswith("Error:")
        self.plan, self.step = (entries if approved else []), None
        shown: list[Update] = [{"sessionUpdate": "plan", "entries": [dict(e) for e in entries]}]
        return shown if approved or result is None else [*shown, {"sessionUpdate": "plan", "entries": []}]


def _result_text(name: str, result: str) -> str:
    try:
        parsed = orjson.loads(result)
    except orjson.JSONDecodeError:
        return tool_calls.result_text(name, {"content": result})
    return tool_calls.result_text(name, parsed) if isinstance(parsed, dict) else result


def _arguments(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    try:
        parsed = orjson.loads(raw) if isinstance(raw, str) else {}
    except orjson.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}
