"""Session, message, agent and plan commands through the command bus, on the in-memory unit of work."""

from __future__ import annotations

from datetime import timedelta

import pytest

from agent_runtime.application.commands import (
    AdoptAgent,
    AppendMessage,
    CancelPlan,
    CreateSession,
    DecidePlan,
    DeclareClientTools,
    DeleteSession,
    MoveSubtask,
    ProposePlan,
    RememberRule,
    RenameSession,
    SwitchAgent,
)
from agent_runtime.domain.approval import ApprovalStatus
from agent_runtime.domain.client_tools import ClientTools
from agent_runtime.domain.errors import Conflict, NotFound, RuleViolation
from agent_runtime.domain.plan import Plan, PlanStatus, Subtask, SubtaskStatus
from tests.application.conftest import NOW, Harness
from tests.fakes import user_message


async def test_create_session_records_the_owner(h: Harness) -> None:
    session = await h.bus.execute(CreateSession(session_id="s1", subject="alice"))
    assert session.owner == "alice"
    assert h.uows.store.sessions["s1"].owner == "alice"
    assert [e.event.type for e in h.seen] == ["SessionCreated"]


async def test_creating_an_existing_session_is_a_conflict(h: Harness) -> None:
    await h.bus.execute(CreateSession(session_id="s1"))
    with pytest.raises(Conflict):
        await h.bus.execute(CreateSession(session_id="s1"))


async def test_an_announced_session_logs_session_info_as_seq_one(h: Harness) -> None:
    await h.bus.execute(CreateSession(session_id="s1", announce=True))
    assert h.uows.store.events["s1"][0].seq == 1
    assert h.chunks("s1") == [{"type": "session_info", "session_id": "s1"}]


async def test_a_foreign_subject_cannot_rename(h: Harness) -> None:
    await h.bus.execute(CreateSession(session_id="s1", subject="alice"))
    with pytest.raises(NotFound):
        await h.bus.execute(RenameSession(session_id="s1", title="x", subject="bob"))


async def test_a_deleted_session_is_gone_for_commands(h: Harness) -> None:
    await h.bus.execute(CreateSession(session_id="s1"))
    await h.bus.execute(DeleteSession(session_id="s1"))
    with pytest.raises(NotFound):
        await h.bus.execute(AppendMessage(session_id="s1", message=user_message("hi")))


async def test_user_messages_are_appended_in_order_under_the_session_lock(h: Harness) -> None:
    await h.bus.execute(CreateSession(session_id="s1"))
    assert await h.bus.execute(AppendMessage(session_id="s1", message=user_message("one"))) == 1
    assert await h.bus.execute(AppendMessage(session_id="s1", message=user_message("two"))) == 2
    assert [m.content for m in h.uows.store.messages["s1"]] == ["one", "two"]
    assert h.lock.held.count("s1") == 3


async def test_a_failing_handler_commits_nothing_and_publishes_nothing(h: Harness) -> None:
    await h.bus.execute(CreateSession(session_id="s1"))
    h.seen.clear()
    with pytest.raises(RuleViolation):
        await h.bus.execute(SwitchAgent(session_id="s1", to_agent="wizard", reason="x"))
    assert h.seen == []


async def test_switch_agent_logs_agent_switched_with_top_level_fields(h: Harness) -> None:
    await h.bus.execute(CreateSession(session_id="s1"))
    await h.bus.execute(SwitchAgent(session_id="s1", to_agent="coder", reason="code", confidence=0.8))
    chunk = h.chunks("s1")[-1]
    assert (chunk["type"], chunk["from_agent"], chunk["to_agent"], chunk["reason"]) == (
        "agent_switched",
        "orchestrator",
        "coder",
        "code",
    )
    assert h.uows.store.sessions["s1"].current_agent == "coder"


async def test_every_event_of_one_command_shares_its_correlation_id(h: Harness) -> None:
    await h.bus.execute(CreateSession(session_id="s1", announce=True), correlation_id="corr-1")
    assert {e.correlation_id for e in h.seen} == {"corr-1"}
    assert {e.causation_id for e in h.seen} == {"CreateSession"}


async def test_time_comes_from_the_injected_clock(h: Harness) -> None:
    h.now = NOW + timedelta(days=3)
    session = await h.bus.execute(CreateSession(session_id="s1"))
    assert session.created_at == h.now


async def test_cancel_plan_cancels_an_open_plan_and_leaves_a_closed_one(h: Harness) -> None:
    await h.bus.execute(CreateSession(session_id="s1"))
    for plan_id in ("open", "done"):
        plan = Plan.draft(
            plan_id=plan_id,
            session_id="s1",
            goal="g",
            subtasks=[Subtask(id="1", description="d", agent="coder")],
            now=NOW,
        )
        h.uows.store.plans[plan_id] = plan
    h.uows.store.plans["done"].status = PlanStatus.COMPLETED
    for plan_id in ("open", "done"):
        await h.bus.execute(CancelPlan(session_id="s1", plan_id=plan_id))
    assert {p.id: p.status for p in h.uows.store.plans.values()} == {
        "open": PlanStatus.CANCELLED,
        "done": PlanStatus.COMPLETED,
    }
    assert [e.event.type for e in h.seen][-1] == "PlanStatusChanged"


async def propose(h: Harness) -> str:
    """A session ``s1`` with a proposed two-step plan; returns its approval's id."""
    await h.bus.execute(CreateSession(session_id="s1"))
    steps = (Subtask(id="1", description="one", agent="coder"), Subtask(id="2", description="two", agent="coder"))
    command = ProposePlan(
        session_id="s1", call_id="p1", goal="g", subtasks=steps, arguments={}, summary={"n": 2}, content="Plan: g"
    )
    approval = await h.bus.execute(command)
    return str(approval.id)


async def test_a_proposed_plan_waits_on_its_approval_and_is_announced(h: Harness) -> None:
    approval_id = await propose(h)
    (plan,) = h.uows.store.plans.values()
    assert plan.status is PlanStatus.DRAFT
    assert h.uows.store.approvals[approval_id].plan_id == plan.id
    chunk = h.chunks("s1")[-1]
    assert (chunk["type"], chunk["plan_id"], chunk["approval_request_id"]) == (
        "plan_approval_required",
        plan.id,
        approval_id,
    )


async def test_an_approved_plan_runs_its_subtasks_and_completes_with_the_last(h: Harness) -> None:
    approval_id = await propose(h)
    plan = await h.bus.execute(DecidePlan(session_id="s1", approval_id=approval_id, approve=True))
    assert plan.status is PlanStatus.IN_PROGRESS
    with pytest.raises(Conflict):  # decided once
        await h.bus.execute(DecidePlan(session_id="s1", approval_id=approval_id, approve=False))
    for subtask_id in ("1", "2"):
        for status in (SubtaskStatus.IN_PROGRESS, SubtaskStatus.COMPLETED):
            plan = await h.bus.execute(
                MoveSubtask(session_id="s1", plan_id=plan.id, subtask_id=subtask_id, status=status)
            )
    assert plan.status is PlanStatus.COMPLETED
    assert h.uows.store.plans[plan.id].status is PlanStatus.COMPLETED
    progress = [(c["content"], c["metadata"]) for c in h.chunks("s1") if c["type"] == "plan_progress"]
    assert progress == [
        ("Plan approved: 2 subtasks.", {"status": "approved"}),
        ("Subtask 1/2 started (coder): one", {"subtask_id": "1", "status": "in_progress"}),
        ("Subtask 1/2 completed: one", {"subtask_id": "1", "status": "completed"}),
        ("Subtask 2/2 started (coder): two", {"subtask_id": "2", "status": "in_progress"}),
        ("Subtask 2/2 completed: two", {"subtask_id": "2", "status": "completed"}),
        ("Plan completed: g", {"status": "completed"}),
    ]


@pytest.mark.parametrize(
    ("revise", "said", "status"),
    [(False, "Plan rejected.", "rejected"), (True, "Plan sent back for changes.", "modify")],
)
async def test_a_plan_not_approved_is_cancelled_and_says_why(h: Harness, revise: bool, said: str, status: str) -> None:
    approval_id = await propose(h)
    decide = DecidePlan(session_id="s1", approval_id=approval_id, approve=False, feedback="no", revise=revise)
    plan = await h.bus.execute(decide)
    assert plan.status is PlanStatus.CANCELLED
    assert h.uows.store.approvals[approval_id].status is ApprovalStatus.REJECTED
    last = h.chunks("s1")[-1]
    assert (last["type"], last["content"], last["metadata"]) == ("plan_progress", said, {"status": status})


async def test_an_always_rule_is_remembered_once(h: Harness) -> None:
    await h.bus.execute(CreateSession(session_id="s1"))
    assert await h.bus.execute(RememberRule(session_id="s1", rule="read_file(a.txt)")) is True
    assert await h.bus.execute(RememberRule(session_id="s1", rule="read_file(a.txt)")) is False
    assert await h.bus.execute(RememberRule(session_id="s1", rule="write_file(a.txt)", allow=False)) is True
    stored = h.uows.store.sessions["s1"]
    assert (stored.approval_rules, stored.denied_rules) == (("read_file(a.txt)",), ("write_file(a.txt)",))


async def test_the_latest_client_tools_declaration_is_kept(h: Harness) -> None:
    await h.bus.execute(CreateSession(session_id="s1"))
    declared = ClientTools(frozenset({"read_file"}), excludes_secrets=True)
    await h.bus.execute(DeclareClientTools(session_id="s1", client_tools=declared))
    assert h.uows.store.sessions["s1"].client_tools == declared


async def test_an_adopted_agent_takes_the_session_over_without_a_switch(h: Harness) -> None:
    await h.bus.execute(CreateSession(session_id="s1"))
    await h.bus.execute(AdoptAgent(session_id="s1", agent="universal"))
    assert h.uows.store.sessions["s1"].current_agent == "universal"
    assert not [c for c in h.chunks("s1") if c["type"] == "agent_switched"]
