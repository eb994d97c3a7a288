"""Plans: create_plan → plan_approval_required → plan_decision approve (execution in dependency order with each
subtask's agent), reject, modify."""

from __future__ import annotations

import json
from typing import Any

from agent_runtime.domain.plan import PlanStatus, SubtaskStatus

from .harness import Harness, shape, tool_result, user

PLAN = {
    "goal": "Add a settings page",
    "subtasks": [
        {"id": "docs", "title": "Write the spec", "description": "[[text:spec written]]", "agent": "architect",
         "estimated_time": "30m", "depends_on": ["code"]},
        {"id": "code", "title": "Build it", "description": "[[tool:read_file {\"path\": \"lib/main.dart\"}]]",
         "agent": "coder", "estimated_time": "1h"},
    ],
}  # fmt: skip


def script(plan: dict[str, Any] = PLAN, prefix: str = "") -> str:
    return f"[[route:architect 0.9 planning]] [[{prefix}tool:create_plan {json.dumps(plan)}]] plan it"


def decision(kind: str, chunk: dict[str, Any], feedback: str | None = None) -> dict[str, Any]:
    return {
        "type": "plan_decision",
        "decision": kind,
        "approval_request_id": chunk["approval_request_id"],
        "plan_id": chunk["plan_id"],
        "feedback": feedback,
    }


async def proposed(harness: Harness) -> dict[str, Any]:
    chunks = await harness.send(user(script()))
    assert shape(chunks) == [
        ("agent_switched", "orchestrator", "architect"),
        ("plan_approval_required",),
        ("done", "plan_approval"),
    ]
    return chunks[1]


async def test_create_plan_asks_for_approval_with_the_summary_the_ide_needs() -> None:
    harness = Harness()

    chunk = await proposed(harness)

    summary = chunk["plan_summary"]
    assert (summary["goal"], summary["subtasks_count"], summary["total_estimated_time"]) == (
        "Add a settings page",
        2,
        "1h 30m",
    )
    assert [s["id"] for s in summary["subtasks"]] == ["docs", "code"]
    approval = harness.uows.store.approvals[chunk["approval_request_id"]]
    assert (approval.tool_name, approval.plan_id) == ("create_plan", chunk["plan_id"])


async def test_an_approved_plan_runs_its_subtasks_in_dependency_order_with_their_agents() -> None:
    harness = Harness()
    chunk = await proposed(harness)

    first = await harness.send(decision("approve", chunk))
    second = await harness.send(tool_result(first[-2]["call_id"], {"success": True, "content": "x", "lines_read": 1}))

    assert shape(first) == [
        ("plan_progress", "approved"),
        ("plan_progress", "in_progress"),
        ("agent_switched", "architect", "coder"),
        ("tool_call", "read_file", False),
        ("done", "tool_call"),
    ]
    assert first[1]["metadata"]["subtask_id"] == "code"
    assert shape(second) == [
        ("delta", "Done."),
        ("final", "Done."),
        ("plan_progress", "completed"),
        ("plan_progress", "in_progress"),
        ("agent_switched", "coder", "architect"),
        ("delta", "spec"),
        ("delta", " written"),
        ("final", "spec written"),
        ("plan_progress", "completed"),
        ("plan_progress", "completed"),
        ("done", "completed"),
    ]
    plan = harness.uows.store.plans[chunk["plan_id"]]
    assert plan.status is PlanStatus.COMPLETED
    assert [s.status for s in plan.subtasks] == [SubtaskStatus.COMPLETED, SubtaskStatus.COMPLETED]
    assert harness.history()[2] == {
        "role": "tool",
        "content": "The user approved the plan. Its subtasks run now, one at a time.",
        "tool_call_id": harness.history()[1]["tool_calls"][0]["id"],
        "name": "create_plan",
    }


async def test_a_plan_waiting_for_a_tool_result_survives_a_restart() -> None:
    harness = Harness()
    chunk = await proposed(harness)
    first = await harness.send(decision("approve", chunk))
    await harness.engine.aclose()

    restarted = Harness(uows=harness.uows)
    assert await restarted.engine.recover() == 0
    second = await restarted.send(tool_result(first[-2]["call_id"], {"success": True}))

    assert shape(second)[-1] == ("done", "completed")
    assert restarted.uows.store.plans[chunk["plan_id"]].status is PlanStatus.COMPLETED


async def test_a_rejected_plan_ends_without_another_model_call() -> None:
    harness = Harness()
    chunk = await proposed(harness)
    calls = len(harness.model.requests)

    chunks = await harness.send(decision("reject", chunk, "too big"))

    assert shape(chunks) == [("plan_progress", "rejected"), ("done", "completed")]
    assert len(harness.model.requests) == calls
    assert harness.uows.store.plans[chunk["plan_id"]].status is PlanStatus.CANCELLED
    assert harness.history()[-1]["content"] == "Error: the user rejected the plan: too big"


async def test_modify_sends_the_feedback_and_the_agent_replans() -> None:
    harness = Harness()
    smaller = {"goal": "Add a settings page", "subtasks": [PLAN["subtasks"][1]]}
    chunks = await harness.send(user(script() + f" [[2:tool:create_plan {json.dumps(smaller)}]]"))

    revised = await harness.send(decision("modify", chunks[1], "skip the spec"))

    assert shape(revised) == [("plan_progress", "modify"), ("plan_approval_required",), ("done", "plan_approval")]
    assert revised[1]["plan_summary"]["subtasks_count"] == 1
    assert "skip the spec" in harness.model.requests[-1]["messages"][-1]["content"]
    assert harness.uows.store.plans[chunks[1]["plan_id"]].status is PlanStatus.CANCELLED


async def test_the_ide_may_send_empty_ids_and_the_pending_plan_is_decided() -> None:
    harness = Harness()
    await proposed(harness)

    empty_ids = {"type": "plan_decision", "decision": "reject", "approval_request_id": "", "plan_id": ""}
    chunks = await harness.send(empty_ids)

    assert shape(chunks) == [("plan_progress", "rejected"), ("done", "completed")]


async def test_a_plan_decision_without_a_pending_plan_is_an_error_event() -> None:
    harness = Harness()

    chunks = await harness.send({"type": "plan_decision", "decision": "approve"})

    assert shape(chunks) == [("error", "no_pending_plan"), ("done", "completed")]


async def test_an_invalid_plan_is_refused_and_the_model_told_what_to_fix() -> None:
    harness = Harness()
    cyclic = {"goal": "g", "subtasks": [{"title": "a", "description": "a", "agent": "wizard"}]}

    chunks = await harness.send(user(script(cyclic)))

    assert shape(chunks)[-1] == ("done", "completed")
    assert "unknown agent 'wizard'" in harness.history()[2]["content"]
