"""Tool call and approval commands through the command bus, on the in-memory unit of work."""

from __future__ import annotations

import pytest

from agent_runtime.application.commands import (
    AbandonToolCall,
    CreateSession,
    DecideApproval,
    EditToolCall,
    ExpireApproval,
    IssueToolCall,
    RecordToolResult,
)
from agent_runtime.domain.approval import ApprovalStatus, Decision
from agent_runtime.domain.errors import Conflict, NotFound
from tests.application.conftest import Harness


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
