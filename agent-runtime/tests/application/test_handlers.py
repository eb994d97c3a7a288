"""Command handlers through the command bus, on the in-memory unit of work."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from agent_runtime.agents.catalogue import build_catalogue
from agent_runtime.application.command_bus import CommandBus
from agent_runtime.application.commands import (
    AbandonToolCall,
    AdoptAgent,
    AppendMessage,
    CancelPlan,
    CreateSession,
    DecideApproval,
    DecidePlan,
    DeclareClientTools,
    DeleteSession,
    EditToolCall,
    ExpireApproval,
    FinishRun,
    IssueToolCall,
    MoveSubtask,
    ProposePlan,
    RecordToolResult,
    RegisterClientMessage,
    RememberRule,
    RenameSession,
    StartRun,
    SwitchAgent,
)
from agent_runtime.application.event_bus import Envelope, EventBus
from agent_runtime.application.fanout import SessionFanout
from agent_runtime.application.handlers import HANDLERS
from agent_runtime.application.session_stream import SessionStream
from agent_runtime.domain.approval import ApprovalStatus, Decision
from agent_runtime.domain.client_tools import ClientTools
from agent_runtime.domain.errors import Conflict, NotFound, RuleViolation
from agent_runtime.domain.message import Message
from agent_runtime.domain.plan import Plan, PlanStatus, Subtask, SubtaskStatus
from agent_runtime.domain.run import RunStatus, StopReason
from tests.fakes import FakeLock, FakeUnitOfWorkFactory, user_message

NOW = datetime(2026, 1, 1, tzinfo=UTC)


class Harness:
    def __init__(self) -> None:
        self.uows = FakeUnitOfWorkFactory()
        self.lock = FakeLock()
        self.events = EventBus()
        self.seen: list[Envelope] = []
        self.now = NOW

        async def remember(envelope: Envelope) -> None:
            self.seen.append(envelope)

        self.events.subscribe(remember)
        self.bus = CommandBus(
            self.uows,
            self.lock,
            self.events,
            HANDLERS,
            lambda: self.now,
            build_catalogue(True),
            SessionStream(self.uows, SessionFanout()),
        )

    def chunks(self, session_id: str) -> list[dict[str, object]]:
        return [orjson.loads(e.data) for e in self.uows.store.events.get(session_id, [])]


@pytest.fixture
def h() -> Harness:
    return Harness()


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


async def test_a_gated_tool_call_opens_one_approval_and_blocks_a_second(h: Harness) -> None:
    await h.bus.execute(CreateSession(session_id="s1"))
    call = IssueToolCall(session_id="s1", call_id="c1", tool_name="write_file", arguments={}, requires_approval=True)
    await h.bus.execute(call)
    chunk = h.chunks("s1")[-1]
    assert chunk["requires_approval"] is True
    assert isinstance(chunk["approval_request_id"], str)
    with pytest.raises(Conflict):
        await h.bus.execute(
            IssueToolCall(session_id="s1", call_id="c2", tool_name="write_file", arguments={}, requires_approval=True)
        )


async def test_a_tool_result_for_a_gated_call_is_its_decision(h: Harness) -> None:
    await h.bus.execute(CreateSession(session_id="s1"))
    for call_id, answer in (("c1", {"error": "Операция отклонена: write_file"}), ("c2", {"result": {"success": True}})):
        await h.bus.execute(
            IssueToolCall(
                session_id="s1", call_id=call_id, tool_name="write_file", arguments={}, requires_approval=True
            )
        )
        await h.bus.execute(RecordToolResult(session_id="s1", call_id=call_id, **answer))  # type: ignore[arg-type]
    statuses = {a.call_id: a.status for a in h.uows.store.approvals.values()}
    assert statuses == {"c1": ApprovalStatus.REJECTED, "c2": ApprovalStatus.APPROVED}


async def test_a_duplicate_tool_result_is_a_conflict_and_changes_nothing(h: Harness) -> None:
    await h.bus.execute(CreateSession(session_id="s1"))
    await h.bus.execute(IssueToolCall(session_id="s1", call_id="c1", tool_name="read_file", arguments={"path": "a"}))
    assert await h.bus.execute(RecordToolResult(session_id="s1", call_id="c1", result={"success": True})) is None
    with pytest.raises(Conflict):
        await h.bus.execute(RecordToolResult(session_id="s1", call_id="c1", result={"success": False}))
    (call,) = [c for c in h.uows.store.tool_calls.values() if c.call_id == "c1"]
    assert call.result == {"success": True}


async def test_a_tool_result_for_an_unknown_call_is_not_found(h: Harness) -> None:
    await h.bus.execute(CreateSession(session_id="s1"))
    with pytest.raises(NotFound):
        await h.bus.execute(RecordToolResult(session_id="s1", call_id="nope", result={}))


async def test_an_explicit_decision_with_edits_is_kept(h: Harness) -> None:
    await h.bus.execute(CreateSession(session_id="s1"))
    await h.bus.execute(
        IssueToolCall(session_id="s1", call_id="c1", tool_name="write_file", arguments={"a": 1}, requires_approval=True)
    )
    approval = await h.bus.execute(
        DecideApproval(session_id="s1", call_id="c1", decision=Decision.EDIT, modified_arguments={"a": 2})
    )
    assert approval.status is ApprovalStatus.APPROVED_WITH_EDITS
    assert approval.modified_arguments == {"a": 2}


async def test_every_event_of_one_command_shares_its_correlation_id(h: Harness) -> None:
    await h.bus.execute(CreateSession(session_id="s1", announce=True), correlation_id="corr-1")
    assert {e.correlation_id for e in h.seen} == {"corr-1"}
    assert {e.causation_id for e in h.seen} == {"CreateSession"}


async def test_time_comes_from_the_injected_clock(h: Harness) -> None:
    h.now = NOW + timedelta(days=3)
    session = await h.bus.execute(CreateSession(session_id="s1"))
    assert session.created_at == h.now


async def gated(h: Harness, call_id: str = "c1") -> str:
    """A session ``s1`` with a gated ``write_file`` call ``call_id``; returns its approval's id."""
    if "s1" not in h.uows.store.sessions:
        await h.bus.execute(CreateSession(session_id="s1"))
    call = await h.bus.execute(
        IssueToolCall(
            session_id="s1", call_id=call_id, tool_name="write_file", arguments={"a": 1}, requires_approval=True
        )
    )
    assert call.approval_id is not None
    return str(call.approval_id)


def statuses(h: Harness) -> dict[str, ApprovalStatus]:
    return {a.id: a.status for a in h.uows.store.approvals.values()}


async def test_an_edit_that_asks_again_opens_a_new_approval_and_hands_the_call_out_again(h: Harness) -> None:
    first = await gated(h)
    renewed = await h.bus.execute(EditToolCall(session_id="s1", call_id="c1", arguments={"a": 2}, ask_again="why"))
    assert renewed not in (None, first)
    assert statuses(h) == {first: ApprovalStatus.APPROVED_WITH_EDITS, renewed: ApprovalStatus.PENDING}
    assert h.uows.store.approvals[renewed].reason == "why"
    chunk = h.chunks("s1")[-1]
    assert (chunk["type"], chunk["arguments"], chunk["approval_request_id"]) == ("tool_call", {"a": 2}, renewed)


async def test_an_edit_of_a_plainly_gated_call_approves_it(h: Harness) -> None:
    first = await gated(h)
    assert await h.bus.execute(EditToolCall(session_id="s1", call_id="c1", arguments={"a": 2})) is None
    assert statuses(h) == {first: ApprovalStatus.APPROVED_WITH_EDITS}
    (call,) = h.uows.store.tool_calls.values()
    assert call.arguments == {"a": 2}
    assert call.is_outstanding
    with pytest.raises(Conflict):  # decided: nothing left to edit
        await h.bus.execute(EditToolCall(session_id="s1", call_id="c1", arguments={"a": 3}))


async def test_abandoning_a_call_rejects_its_approval_and_ends_the_call(h: Harness) -> None:
    first = await gated(h)
    await h.bus.execute(AbandonToolCall(session_id="s1", call_id="c1", reason="cancelled by the user"))
    assert statuses(h) == {first: ApprovalStatus.REJECTED}
    (call,) = h.uows.store.tool_calls.values()
    assert (call.is_outstanding, call.error) == (False, "cancelled by the user")


async def test_an_expired_approval_ends_its_call_and_cannot_expire_twice(h: Harness) -> None:
    first = await gated(h)
    expired = await h.bus.execute(ExpireApproval(session_id="s1", approval_id=first))
    assert expired.status is ApprovalStatus.EXPIRED
    (call,) = h.uows.store.tool_calls.values()
    assert (call.is_outstanding, call.error) == (False, "the approval expired")
    with pytest.raises(Conflict):
        await h.bus.execute(ExpireApproval(session_id="s1", approval_id=first))
    with pytest.raises(NotFound):
        await h.bus.execute(ExpireApproval(session_id="s1", approval_id="nope"))


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


async def started_run(h: Harness, client_message_id: str | None = None) -> str:
    """A session ``s1`` with a running run (answering ``client_message_id``); returns the run's id."""
    await h.bus.execute(CreateSession(session_id="s1", announce=True))
    if client_message_id is not None:
        await h.bus.execute(RegisterClientMessage(session_id="s1", client_message_id=client_message_id, content="hi"))
    run = await h.bus.execute(StartRun(session_id="s1"))
    h.seen.clear()
    return str(run.id)


def failed_run(run_id: str, *, client_message_id: str | None = None) -> FinishRun:
    """The model failed after one call of ``m`` (3 + 4 tokens)."""
    return FinishRun(
        session_id="s1",
        run_id=run_id,
        reason=StopReason.ERROR,
        error="upstream down",
        code="llm_unavailable",
        model="m",
        prompt_tokens=3,
        completion_tokens=4,
        duration_ms=12,
        client_message_id=client_message_id,
    )


async def test_finish_run_stops_the_run_records_usage_and_logs_error_then_done_in_one_step(h: Harness) -> None:
    run_id = await started_run(h, client_message_id="m-1")
    commits = h.uows.store.commits
    async with h.bus.step("s1") as step:
        done_seq = await step.execute(failed_run(run_id, client_message_id="m-1"))
    store = h.uows.store
    assert store.commits == commits + 1
    run = store.runs[run_id]
    assert (run.status, run.stop_reason, run.error, run.ended_at) == (
        RunStatus.STOPPED,
        StopReason.ERROR,
        "upstream down",
        NOW,
    )
    assert [(u.model, u.prompt_tokens, u.completion_tokens, u.total_tokens, u.duration_ms) for u in store.usage] == [
        ("m", 3, 4, 7, 12)
    ]
    error, done = h.chunks("s1")[-2:]
    assert error == {
        "type": "error",
        "content": "upstream down",
        "error": "upstream down",
        "metadata": {"code": "llm_unavailable"},
        "session_id": "s1",
    }
    assert done == {
        "type": "done",
        "stop_reason": "error",
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
        "session_id": "s1",
    }
    assert done_seq == store.events["s1"][-1].seq == store.seqs["s1"]
    assert store.client_messages[("s1", "m-1")].done_seq == done_seq
    kinds = [e.event.type for e in h.seen]
    assert kinds == ["RunStopped", "SessionEventAppended", "UsageRecorded", "SessionEventAppended"]


async def test_a_finish_whose_step_fails_writes_none_of_it(h: Harness) -> None:
    run_id = await started_run(h, client_message_id="m-1")
    logged = list(h.uows.store.events["s1"])

    async def finish_then_fail() -> None:
        async with h.bus.step("s1") as step:
            await step.execute(failed_run(run_id, client_message_id="m-1"))
            raise RuntimeError("the step fails after the command: its commit never happens")

    with pytest.raises(RuntimeError, match="never happens"):
        await finish_then_fail()
    store = h.uows.store
    assert store.runs[run_id].status is RunStatus.RUNNING
    assert (store.usage, store.events["s1"]) == ([], logged)
    assert store.client_messages[("s1", "m-1")].done_seq is None
    assert h.seen == []


async def test_finishing_a_stopped_run_or_no_run_logs_only_done(h: Harness) -> None:
    run_id = await started_run(h)
    await h.bus.execute(FinishRun(session_id="s1", run_id=run_id, reason=StopReason.COMPLETED))
    h.seen.clear()
    await h.bus.execute(FinishRun(session_id="s1", run_id=run_id, reason=StopReason.CANCELLED))
    await h.bus.execute(FinishRun(session_id="s1", run_id=None, reason=StopReason.CANCELLED))
    assert h.uows.store.runs[run_id].stop_reason is StopReason.COMPLETED
    assert h.uows.store.usage == []
    assert [(c["type"], c["stop_reason"]) for c in h.chunks("s1")[-2:]] == [("done", "cancelled")] * 2
    assert [e.event.type for e in h.seen] == ["SessionEventAppended"] * 2


async def test_done_names_the_model_cut_off_only_when_the_run_completed(h: Harness) -> None:
    run_id = await started_run(h)
    cut = {"model": "m", "model_finish": "length"}
    await h.bus.execute(FinishRun(session_id="s1", run_id=run_id, reason=StopReason.TOOL_CALL, **cut))  # type: ignore[arg-type]
    await h.bus.execute(FinishRun(session_id="s1", run_id=run_id, reason=StopReason.COMPLETED, **cut))  # type: ignore[arg-type]
    assert [c.get("model_finish") for c in h.chunks("s1")[-2:]] == [None, "length"]


async def test_finishing_a_run_of_another_session_is_not_found(h: Harness) -> None:
    run_id = await started_run(h)
    await h.bus.execute(CreateSession(session_id="s2"))
    with pytest.raises(NotFound):
        await h.bus.execute(FinishRun(session_id="s2", run_id=run_id, reason=StopReason.CANCELLED))
    assert h.uows.store.runs[run_id].status is RunStatus.RUNNING


async def test_a_client_message_answer_starts_after_the_current_seq(h: Harness) -> None:
    await h.bus.execute(CreateSession(session_id="s1", announce=True))
    await h.bus.execute(RegisterClientMessage(session_id="s1", client_message_id="m-1", content="hi"))
    record = h.uows.store.client_messages[("s1", "m-1")]
    assert (record.after_seq, record.done_seq) == (1, None)
    assert record.digest == hashlib.sha256(b"hi").hexdigest()


async def test_a_shown_assistant_message_is_appended_and_logged_as_the_final_answer(h: Harness) -> None:
    await h.bus.execute(CreateSession(session_id="s1"))
    answer = Message(role="assistant", content="Done.", created_at=NOW, agent="universal")
    assert await h.bus.execute(AppendMessage(session_id="s1", message=answer, shown=True)) == 1
    assert h.uows.store.messages["s1"] == [answer]
    assert h.chunks("s1") == [
        {
            "type": "assistant_message",
            "content": "Done.",
            "is_final": True,
            "metadata": {"agent": "universal"},
            "session_id": "s1",
        }
    ]


async def test_only_an_assistant_message_with_text_and_agent_can_be_shown(h: Harness) -> None:
    await h.bus.execute(CreateSession(session_id="s1"))
    for message in (user_message("hi"), Message(role="assistant", content=None, created_at=NOW, agent="universal")):
        with pytest.raises(ValueError, match="can be shown"):
            await h.bus.execute(AppendMessage(session_id="s1", message=message, shown=True))
    assert (h.uows.store.messages.get("s1", []), h.chunks("s1")) == ([], [])
