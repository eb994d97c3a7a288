"""The scripted behaviour of the fake runtime: what a turn publishes for a given client frame.

Keywords in a ``user_message`` pick the scenario: "read" (an IDE tool call), "write" (an approval-gated call),
"plan" (an agent switch and a plan approval), "fail" (an error), "long" (a long streamed reply); anything else is
echoed back as a streamed reply.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fake_runtime import FakeSession

LONG_REPLY = " ".join(f"word{n}" for n in range(150)) + "."


class Turn:
    """One run's publishing handle."""

    def __init__(self, session: FakeSession, run: int) -> None:
        self.session = session
        self.run = run
        self.stop_reason = "completed"
        self.model_finish: str | None = None  # the done's model_finish: the model was cut off

    def publish(self, chunk: dict[str, Any]) -> None:
        self.session.publish(chunk, self.run)

    async def say(self, text: str, delay: float) -> None:
        for n, token in enumerate(_tokens(text)):
            self.publish({"type": "assistant_message", "token": token, "is_final": False})
            if delay:
                await asyncio.sleep(delay)
            elif n % 20 == 0:
                await asyncio.sleep(0)
        self.publish({"type": "assistant_message", "content": text, "is_final": True, "metadata": {"agent": "coder"}})
        self.session.history.append({"role": "assistant", "content": text})

    def tool_call(self, call_id: str, name: str, arguments: dict[str, Any], approval: bool) -> None:
        call = {"call_id": call_id, "tool_name": name, "arguments": arguments, "requires_approval": approval}
        self.session.outstanding[call_id] = {**call, "created_at": "2026-01-01T00:00:00Z"}
        self.publish({"type": "tool_call", **call})
        self.stop_reason = "approval" if approval else "tool_call"


def _tokens(text: str) -> list[str]:
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


class FakeAgent:
    """``delay`` is the pause between token deltas."""

    accepted_types = frozenset(
        {"user_message", "tool_result", "switch_agent", "hitl_decision", "plan_decision", "cancel"}
    )

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self._calls = itertools.count(1)

    async def handle(self, turn: Turn, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "user_message":
            turn.session.history.append({"role": "user", "content": message["content"]})
            await self._user_message(turn, str(message["content"]))
        elif kind == "tool_result":
            await self._tool_result(turn, message)
        elif kind == "switch_agent":
            turn.publish(_switched("orchestrator", str(message["agent_type"]), "user request"))
        elif kind == "plan_decision":
            await self._plan_decision(turn, message)

    async def _user_message(self, turn: Turn, content: str) -> None:
        lowered = content.lower()
        if "read" in lowered:
            await turn.say("Let me look at the file.", self.delay)
            turn.tool_call(f"call-{next(self._calls)}", "read_file", {"path": "lib/main.dart", "start_line": 1}, False)
        elif "write" in lowered:
            await turn.say("I will write the file.", self.delay)
            arguments = {"path": "README.md", "content": "# hi\n", "create_dirs": False}
            turn.tool_call(f"call-{next(self._calls)}", "write_file", arguments, True)
        elif "plan" in lowered:
            turn.publish(_switched("orchestrator", "architect", "needs a plan"))
            turn.publish(
                {
                    "type": "plan_approval_required",
                    "approval_request_id": "apr-1",
                    "plan_id": "plan-1",
                    "plan_summary": {
                        "goal": "Add a login screen",
                        "subtasks_count": 2,
                        "total_estimated_time": "15m",
                        "subtasks": [{"id": "t1", "title": "UI"}, {"id": "t2", "title": "Wire up"}],
                    },
                    "content": "Plan: Add a login screen (2 subtasks)",
                }
            )
            turn.stop_reason = "plan_approval"
        elif "fail" in lowered:
            turn.publish({"type": "error", "error": "the model is unavailable", "metadata": {"code": "llm_error"}})
            turn.stop_reason = "error"
        elif "cut off" in lowered:
            await turn.say("The answer stops in the middle of", self.delay)
            turn.model_finish = "content_filter" if "filter" in lowered else "length"
        elif "long" in lowered:
            await turn.say(LONG_REPLY, self.delay)
        else:
            await turn.say(f"Echo: {content}", self.delay)

    async def _tool_result(self, turn: Turn, message: dict[str, Any]) -> None:
        call = turn.session.outstanding.pop(str(message.get("call_id")), None)
        if call is None:
            turn.publish({"type": "error", "error": f"unknown call_id {message.get('call_id')}"})
            turn.stop_reason = "error"
            return
        outcome = "failed: " + str(message["error"]) if message.get("error") else "succeeded"
        await turn.say(f"The {call['tool_name']} call {outcome}.", self.delay)

    async def _plan_decision(self, turn: Turn, message: dict[str, Any]) -> None:
        if message.get("decision") != "approve":
            await turn.say("Plan rejected.", self.delay)
            return
        turn.publish(
            {"type": "plan_progress", "plan_id": "plan-1", "content": "UI: done", "metadata": {"status": "ok"}}
        )
        await turn.say("The plan is done.", self.delay)


def _switched(old: str, new: str, reason: str) -> dict[str, Any]:
    return {
        "type": "agent_switched",
        "from_agent": old,
        "to_agent": new,
        "reason": reason,
        "metadata": {"from_agent": old, "to_agent": new, "reason": reason, "confidence": 0.9},
    }
