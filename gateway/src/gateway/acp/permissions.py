"""Approvals as ``session/request_permission``: the four options, and the "always" answers of a session.

An "always" answer covers exactly one tool with one scope: for ``execute_command`` one exact simple command (its
words, its working directory, with or without a shell); for file tools one exact path. A command line that is not
a single simple command (operators, redirections, substitutions, globs, variables, quotes that a shell would
reinterpret) is never remembered: those calls offer only the "once" answers, so "always" on ``git status && rm -rf``
can never grant ``rm``. "Allow always" goes to the runtime (``hitl_decision`` with ``always: true``), which stores
it with the session (``guardrails.rules.always_rule``): every gateway honours it. "Reject always" is kept here, by
this process (the runtime's ``always`` goes with approvals only); another gateway asks again.
"""

from __future__ import annotations

import shlex
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.acp import tool_calls
from gateway.acp.json_values import as_list, as_object

ALLOW_ONCE = "allow_once"
ALLOW_ALWAYS = "allow_always"
REJECT_ONCE = "reject_once"
REJECT_ALWAYS = "reject_always"
_SHELL_SYNTAX = frozenset(";&|<>()$`*?[]{}~!#\\\n\r'\"")
_PATH_TOOLS = frozenset({"write_file", "read_file", "create_directory", "list_files", "delete_file", "move_file"})
SESSIONS_REMEMBERED = 10_000  # sessions whose "always" answers this process keeps (least recently used dropped)

Scope = str


def scope(tool_name: str, arguments: dict[str, Any]) -> Scope | None:
    """What an "always" answer for this call covers, or None when it may only be answered once."""
    if tool_name == "execute_command":
        command = arguments.get("command")
        if not isinstance(command, str) or not is_simple_command(command):
            return None
        words = shlex.split(command)
        key = {"words": words, "cwd": str(arguments.get("cwd") or "."), "shell": bool(arguments.get("shell"))}
        return f"execute_command:{orjson.dumps(key).decode()}"
    if tool_name in _PATH_TOOLS and isinstance(arguments.get("path"), str):
        return f"{tool_name}:{arguments['path']}"
    return None


def is_simple_command(command: str) -> bool:
    """One program with plain words: nothing a shell would treat as syntax."""
    if not command.strip() or any(char in _SHELL_SYNTAX for char in command):
        return False
    try:
        return len(shlex.split(command)) > 0
    except ValueError:
        return False


def options(call_scope: Scope | None) -> list[dict[str, str]]:
    allow = {"optionId": ALLOW_ONCE, "name": "Allow once", "kind": ALLOW_ONCE}
    reject = {"optionId": REJECT_ONCE, "name": "Reject", "kind": REJECT_ONCE}
    if call_scope is None:
        return [allow, reject]
    return [
        allow,
        {"optionId": ALLOW_ALWAYS, "name": "Always allow", "kind": ALLOW_ALWAYS},
        reject,
        {"optionId": REJECT_ALWAYS, "name": "Always reject", "kind": REJECT_ALWAYS},
    ]


PLAN_OPTIONS = [
    {"optionId": ALLOW_ONCE, "name": "Approve the plan", "kind": ALLOW_ONCE},
    {"optionId": REJECT_ONCE, "name": "Reject the plan", "kind": REJECT_ONCE},
]


def plan_question(plan: dict[str, Any]) -> dict[str, Any]:
    """The plan shown in a permission request (a ``plan_approval_required`` chunk): its goal and numbered steps."""
    summary = as_object(plan.get("plan_summary"))
    subtasks = [s for s in as_list(summary.get("subtasks")) if isinstance(s, dict)]
    lines = [f"{n}. {s.get('title') or s.get('description') or s.get('id')}" for n, s in enumerate(subtasks, 1)]
    text = "\n".join(lines) or "(no steps)"
    return {
        "toolCallId": f"plan-{plan.get('plan_id') or 'pending'}",
        "title": f"Plan: {summary.get('goal') or 'approve the plan'}",
        "kind": "think",
        "status": "pending",
        "content": [tool_calls.text(text)],
    }


def chosen(answer: Any) -> str | None:
    """The option the user picked, or None when the client cancelled the request."""
    outcome = answer.get("outcome") if isinstance(answer, dict) else None
    if isinstance(outcome, dict) and outcome.get("outcome") == "selected":
        option = outcome.get("optionId")
        if option in (ALLOW_ONCE, ALLOW_ALWAYS, REJECT_ONCE, REJECT_ALWAYS):
            return str(option)
    return None


@dataclass(slots=True)
class Remembered:
    allowed: set[Scope]
    rejected: set[Scope]


class SessionRules:
    """The "reject always" answers of every session this process served, bounded (least recently used go first)."""

    def __init__(self, limit: int = SESSIONS_REMEMBERED) -> None:
        self._sessions: OrderedDict[str, Remembered] = OrderedDict()
        self._limit = limit

    def decided(self, session_id: str, call_scope: Scope | None) -> str | None:
        """``ALLOW_ALWAYS`` or ``REJECT_ALWAYS`` when the user already answered this scope for good."""
        remembered = self._sessions.get(session_id)
        if call_scope is None or remembered is None:
            return None
        self._sessions.move_to_end(session_id)
        if call_scope in remembered.rejected:
            return REJECT_ALWAYS
        if call_scope in remembered.allowed:
            return ALLOW_ALWAYS
        return None

    def remember(self, session_id: str, call_scope: Scope, option: str) -> None:
        remembered = self._sessions.get(session_id)
        if remembered is None:
            remembered = self._sessions[session_id] = Remembered(set(), set())
            while len(self._sessions) > self._limit:
                self._sessions.popitem(last=False)
        self._sessions.move_to_end(session_id)
        (remembered.allowed if option == ALLOW_ALWAYS else remembered.rejected).add(call_scope)
