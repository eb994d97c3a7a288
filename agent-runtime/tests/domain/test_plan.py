from datetime import UTC, datetime

import pytest

from agent_runtime.domain.errors import Conflict, RuleViolation
from agent_runtime.domain.plan import Plan, PlanStatus, Subtask, SubtaskStatus

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def new_plan() -> Plan:
    return Plan.draft(
        plan_id="p",
        session_id="s",
        goal="Add login",
        subtasks=[
            Subtask(id="t1", description="design", agent="architect", estimated_minutes=10),
            Subtask(id="t2", description="code", agent="coder", estimated_minutes=20, dependencies=("t1",)),
        ],
        now=NOW,
    )


def test_a_plan_starts_as_a_draft_with_its_estimate() -> None:
    plan = new_plan()
    assert plan.status is PlanStatus.DRAFT
    assert plan.total_estimated_minutes == 30


def test_a_plan_without_subtasks_is_refused() -> None:
    with pytest.raises(RuleViolation):
        Plan.draft(plan_id="p", session_id="s", goal="g", subtasks=[], now=NOW)


def test_unknown_dependencies_are_refused() -> None:
    with pytest.raises(RuleViolation):
        Plan.draft(
            plan_id="p",
            session_id="s",
            goal="g",
            subtasks=[Subtask(id="t1", description="x", agent="coder", dependencies=("nope",))],
            now=NOW,
        )


def test_a_draft_cannot_start_before_approval() -> None:
    with pytest.raises(Conflict):
        new_plan().move_to(PlanStatus.IN_PROGRESS, NOW)


def test_subtasks_run_in_dependency_order_and_complete_the_plan() -> None:
    plan = new_plan()
    plan.move_to(PlanStatus.APPROVED, NOW)
    plan.move_to(PlanStatus.IN_PROGRESS, NOW)
    assert plan.next_subtask() is not None
    assert plan.next_subtask().id == "t1"  # type: ignore[union-attr]
    plan.move_subtask("t1", SubtaskStatus.IN_PROGRESS, NOW)
    plan.move_subtask("t1", SubtaskStatus.COMPLETED, NOW)
    assert plan.next_subtask().id == "t2"  # type: ignore[union-attr]
    plan.move_subtask("t2", SubtaskStatus.IN_PROGRESS, NOW)
    plan.move_subtask("t2", SubtaskStatus.COMPLETED, NOW)
    assert plan.status is PlanStatus.COMPLETED


def test_a_failed_subtask_fails_the_plan() -> None:
    plan = new_plan()
    plan.move_to(PlanStatus.APPROVED, NOW)
    plan.move_to(PlanStatus.IN_PROGRESS, NOW)
    plan.move_subtask("t1", SubtaskStatus.IN_PROGRESS, NOW)
    plan.move_subtask("t1", SubtaskStatus.FAILED, NOW)
    assert plan.status is PlanStatus.FAILED


def test_a_completed_subtask_cannot_go_back() -> None:
    plan = new_plan()
    plan.move_to(PlanStatus.APPROVED, NOW)
    plan.move_to(PlanStatus.IN_PROGRESS, NOW)
    plan.move_subtask("t1", SubtaskStatus.IN_PROGRESS, NOW)
    plan.move_subtask("t1", SubtaskStatus.COMPLETED, NOW)
    with pytest.raises(Conflict):
        plan.move_subtask("t1", SubtaskStatus.IN_PROGRESS, NOW)


def test_a_cancelled_plan_stays_cancelled() -> None:
    plan = new_plan()
    plan.move_to(PlanStatus.CANCELLED, NOW)
    with pytest.raises(Conflict):
        plan.move_to(PlanStatus.APPROVED, NOW)
