"""``session/load``: the whole conversation replayed as ``session/update`` notifications before the answer.

The source is the runtime's history (``GET /sessions/{id}/history``, the messages in OpenAI form): user messages,
the agents' text, every tool call with its final status (from its result: ``Error: …`` is ``failed``) and plans
(``create_plan`` calls, their entries completed as far as the plan's steps ran). The runtime's own tools that only
steer the loop (``attempt_completion``, ``ask_followup_question``, ``switch_mode``) are not shown: their text is
already an agent message.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import orjson

from gateway.acp import tool_calls
from gateway.acp.json_values import as_list
from gateway.acp.session import AcpSession
from gateway.acp.updates import text_chunk

STEERING_TOOLS = frozenset({"attempt_completion", "ask_followup_question", "switch_mode"})
PLAN_TOOL = "create_plan"
PLAN_STEP = "[Plan step "


async def replay_session(session: AcpSession) -> None:
    history = await session.link.rest("GET", f"/sessions/{quote(session.id, safe='')}/history")
    messages = [m for m in history.get("messages") or [] if isinstance(m, dict)]
    results = {str(m.get("tool_call_id")): m.get("content") for m in messages if m.get("role") == "tool"}
    for message in messages:
        for update in _updates(message, results, session):
            await session.notify(update)


def _updates(message: dict[str, Any], results: dict[str, Any], session: AcpSession) -> list[dict[str, Any]]:
    role, content = message.get("role"), message.get("content")
    text = content if isinstance(content, str) else ""
    if role == "user" and text:
        kind = "agent_thought_chunk" if text.startswith(PLAN_STEP) else "user_message_chunk"
        return [text_chunk(kind, text)]
    if role != "assistant":
        return []
    updates = [text_chunk("agent_message_chunk", text)] if text else []
    for call in message.get("tool_calls") or []:
        updates.extend(_call_updates(call, results, session))
    return updates


def _call_updates(call: Any, results: dict[str, Any], session: AcpSession) -> list[dict[str, Any]]:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict):
        return []
    call_id, name = str(call.get("id") or ""), str(function.get("name") or "")
    arguments = _arguments(function.get("arguments"))
    if name in STEERING_TOOLS or not call_id:
        return []
    if name == PLAN_TOOL:
        return [_plan(arguments)]
    result = results.get(call_id)
    update = tool_calls.started(call_id, name, arguments, session.workspace)
    if isinstance(result, str):
        failed = result.startswith("Error:")
        update["status"] = "failed" if failed else "completed"
        update["content"] = [tool_calls.text(result if failed else _result_text(name, result))]
    return [update]


def _plan(arguments: dict[str, Any]) -> dict[str, Any]:
    subtasks = as_list(arguments.get("subtasks"))
    entries = [
        {
            "content": str(s.get("title") or s.get("description") or s.get("id") or "step"),
            "priority": "medium",
            "status": "pending",
        }
        for s in subtasks
        if isinstance(s, dict)
    ]
    return {"sessionUpdate": "plan", "entries": entries}


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
