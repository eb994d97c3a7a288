"""Approvals as ``session/request_permission``: the four options, and when "always" may be offered.

An "always" answer goes to the runtime with the decision (``hitl_decision`` with ``always: true``), which stores it
with the session (every gateway, a reconnect and a restart see it) for exactly one tool with one scope: one exact
simple command for ``execute_command``, one exact path for the file tools (``guardrails.rules.always_rule``; the
runtime's shell parser has the last word: a line it does not read as one exact simple command counts once). A
command line that is not a single simple command (operators, redirections, substitutions, globs, variables, quotes
a shell would reinterpret) is offered only the "once" answers, so "always" on ``git status && rm -rf`` can never
grant ``rm``.
"""

from __future__ import annotations

import shlex
from typing import Any

from gateway.acp import tool_calls
from gateway.acp.json_values import as_list, as_object

ALLOW_ONCE = "allow_once"
ALLOW_ALWAYS = "allow_always"
REJECT_ONCE = "reject_once"
REJECT_ALWAYS = "reject_always"
_SHELL_SYNTAX = frozenset(";&|<>()$`*?[]{}~!#\\\n\r'\"")
_PATH_TOOLS = frozenset({"write_file", "read_file", "create_directory", "list_files", "delete_file", "move_file"})


def may_remember(tool_name: str, arguments: dict[str, Any]) -> bool:
    """Whether an "always" answer can be offered for this call (else it may only be answered once)."""
    if tool_name == "execute_command":
        command = arguments.get("command")
        return isinstance(command, str) and is_simple_command(command)
    return tool_name in _PATH_TOOLS and isinstance(arguments.get("path"), str)


def is_simple_command(command: str) -> bool:
    """One program with plain words: nothing a shell would treat as syntax."""
    if not command.strip() or any(char in _SHELL_SYNTAX for char in command):
        return False
    try:
        return len(shlex.split(command)) > 0
    except ValueError:
        return False


def options(remember: bool) -> list[dict[str, str]]:
    allow = {"optionId": ALLOW_ONCE, "name": "Allow once", "kind": ALLOW_ONCE}
    reject = {"optionId": REJECT_ONCE, "name": "Reject", "kind": REJECT_ONCE}
    if not remember:
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
