"""'Always reject' (hitl_decision reject with always: true): that exact call is refused for the rest of the session
(a ``tool_refused`` naming the rule), other calls still ask; a compound line is rejected once only."""

from __future__ import annotations

from typing import Any

from .harness import Harness, shape, user


def run_command(command: str) -> dict[str, Any]:
    return user(f'[[tool:execute_command {{"command": "{command}"}}]] [[2:text:ok]]')


def reject_always(call_id: str) -> dict[str, Any]:
    return {"type": "hitl_decision", "call_id": call_id, "decision": "reject", "always": True}


async def test_reject_always_refuses_that_exact_command_from_then_on() -> None:
    harness = Harness(multi_agent=False)
    first = await harness.send(run_command("npm publish"))
    await harness.send(reject_always(first[0]["call_id"]))

    again = await harness.send(run_command("npm publish"))
    other = await harness.send(run_command("npm publish --dry-run"))

    assert harness.uows.store.sessions["s1"].denied_rules == ("execute_command(npm publish)",)
    [refused] = [c for c in again if c["type"] == "tool_refused"]
    assert refused["metadata"]["rule"] == "rule:execute_command(npm publish)"
    assert ("tool_call", "execute_command", True) in shape(other)


async def test_reject_always_on_a_compound_line_is_a_rejection_once() -> None:
    harness = Harness(multi_agent=False)
    first = await harness.send(run_command("git status && npm publish"))
    await harness.send(reject_always(first[0]["call_id"]))

    again = await harness.send(run_command("git status && npm publish"))

    assert harness.uows.store.sessions["s1"].denied_rules == ()
    assert ("tool_call", "execute_command", True) in shape(again)
