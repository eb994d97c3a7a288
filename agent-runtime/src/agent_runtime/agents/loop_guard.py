"""The loop guard: a turn that keeps calling tools without finishing is stopped with a clear message.

The guard reads the turn's messages (everything after the user message that started it) instead of keeping
counters, so it gives the same answer after a restart of the runtime. A round is one assistant message with tool
calls. Two limits: ``max_tool_rounds`` rounds per turn, and ``max_identical_calls`` calls of the same tool with the
same arguments (compared as canonical JSON, key order ignored) within the turn.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from agent_runtime.agents.tools import canonical_tool_name


@dataclass(frozen=True, slots=True)
class LoopStop:
    """Why the turn must stop; ``message`` is shown to the user and recorded in the history."""

    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class LoopGuard:
    """Limits per turn; :meth:`check` is called with the turn's messages, including the newest assistant message."""

    max_tool_rounds: int = 25
    max_identical_calls: int = 3

    def check(self, turn_messages: Sequence[dict[str, Any]]) -> LoopStop | None:
        """A stop when the turn went past a limit, else None."""
        rounds = [
            message for message in turn_messages if message.get("role") == "assistant" and message.get("tool_calls")
        ]
        if len(rounds) > self.max_tool_rounds:
            return LoopStop(
                "max_tool_rounds",
                f"Stopped: this turn used tools in more than {self.max_tool_rounds} rounds without finishing. "
                "Send a new message to continue or narrow the task.",
            )
        seen: Counter[tuple[str, str]] = Counter(
            canonical_call(call) for message in rounds for call in message["tool_calls"]
        )
        for (name, arguments), count in seen.items():
            if count >= self.max_identical_calls:
                shown = arguments if len(arguments) <= 200 else arguments[:200] + "…"
                return LoopStop(
                    "repeated_call",
                    f"Stopped: '{name}' was called {count} times with the same arguments {shown} in this turn. "
                    "The agent seems stuck; rephrase the request or give more details.",
                )
        return None


def canonical_call(call: dict[str, Any]) -> tuple[str, str]:
    """A tool call as (canonical name, arguments as sorted-key JSON); unparsable arguments compare as their text."""
    function = call.get("function", {})
    name = canonical_tool_name(str(function.get("name", "")))
    raw = function.get("arguments", "")
    try:
        parsed = orjson.loads(raw) if isinstance(raw, str | bytes) else raw
        text = orjson.dumps(parsed, option=orjson.OPT_SORT_KEYS).decode()
    except (orjson.JSONDecodeError, TypeError):
        text = str(raw)
    return name, text
