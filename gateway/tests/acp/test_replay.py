"""session/load's replay of a history (OpenAI form) as session/update payloads: pure, no sockets."""

from __future__ import annotations

import json
from typing import Any

from gateway.acp.replay import Replay
from gateway.acp.workspace import Workspace


class Session:
    """What the replay reads of a session: its working directory."""

    workspace = Workspace("/w")


def call(call_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}


def replay(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    results = {m["tool_call_id"]: m["content"] for m in messages if m["role"] == "tool"}
    view = Replay(Session(), results)  # type: ignore[arg-type]
    updates = [update for message in messages for update in view.updates(message)]
    return updates + view.finish()


def test_users_agents_and_tool_calls_with_their_final_status() -> None:
    updates = replay(
        [
            {"role": "user", "content": "look at a.txt"},
            {"role": "assistant", "content": "Reading.", "tool_calls": [call("c1", "read_file", {"path": "a.txt"})]},
            {"role": "tool", "tool_call_id": "c1", "content": '{"success": true, "content": "alpha"}'},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [call("c2", "write_file", {"path": "b", "content": ""})],
            },
            {"role": "tool", "tool_call_id": "c2", "content": "Error: The user rejected this call."},
            {"role": "assistant", "content": None, "tool_calls": [call("c3", "attempt_completion", {"result": "x"})]},
            {"role": "tool", "tool_call_id": "c3", "content": "The task is complete; the user sees it."},
            {"role": "assistant", "content": "x"},
        ]
    )
    assert [(u["sessionUpdate"], u.get("status")) for u in updates] == [
        ("user_message_chunk", None),
        ("agent_message_chunk", None),
        ("tool_call", "completed"),
        ("tool_call", "failed"),
        ("agent_message_chunk", None),  # attempt_completion is not shown: its text is the message
    ]
    read = updates[2]
    assert (read["kind"], read["locations"], read["content"][0]["content"]["text"]) == (
        "read",
        [{"path": "/w/a.txt"}],
        "alpha",
    )
    assert updates[3]["content"][0]["content"]["text"] == "Error: The user rejected this call."


def test_an_approved_plan_is_replayed_with_its_steps_completed() -> None:
    plan = {
        "goal": "Login",
        "subtasks": [
            {"title": "Form", "description": "d", "agent": "coder"},
            {"title": "Wire", "description": "d", "agent": "coder"},
        ],
    }
    updates = replay(
        [
            {"role": "user", "content": "plan it"},
            {"role": "assistant", "content": None, "tool_calls": [call("p", "create_plan", plan)]},
            {"role": "tool", "tool_call_id": "p", "content": "The user approved the plan. Its subtasks run now."},
            {"role": "user", "content": "[Plan step 1/2] d"},
            {"role": "assistant", "content": "form done"},
            {"role": "user", "content": "[Plan step 2/2] d"},
            {"role": "assistant", "content": "wired"},
        ]
    )
    plans = [[e["status"] for e in u["entries"]] for u in updates if u["sessionUpdate"] == "plan"]
    assert plans == [
        ["pending", "pending"],
        ["in_progress", "pending"],
        ["completed", "in_progress"],
        ["completed"] * 2,
    ]
    assert [u["sessionUpdate"] for u in updates if "Plan step" in str(u.get("content"))] == ["agent_thought_chunk"] * 2


def test_a_rejected_plan_is_shown_then_cleared() -> None:
    plan = {"goal": "g", "subtasks": [{"title": "t", "description": "d", "agent": "coder"}]}
    updates = replay(
        [
            {"role": "assistant", "content": None, "tool_calls": [call("p", "create_plan", plan)]},
            {"role": "tool", "tool_call_id": "p", "content": "Error: the user rejected the plan."},
        ]
    )
    assert [len(u["entries"]) for u in updates] == [1, 0]
