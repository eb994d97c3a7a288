from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from agent_runtime.domain.approval import EDITED_REASON, Approval, ApprovalKind, ApprovalStatus, Decision
from agent_runtime.domain.errors import Conflict, RuleViolation
from agent_runtime.domain.events import ApprovalDecided, ApprovalRequested

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def tool_approval(**overrides: Any) -> Approval:
    fields: dict[str, Any] = {
        "id": "a1",
        "session_id": "s",
        "kind": ApprovalKind.TOOL,
        "call_id": "c1",
        "tool_name": "write_file",
        "arguments": {"path": "a.py", "content": "x"},
        "reason": None,
        "created_at": NOW,
    }
    fields.update(overrides)
    return Approval.request(**fields)


def test_a_request_starts_pending_and_raises_approval_requested() -> None:
    approval = tool_approval()
    assert approval.status is ApprovalStatus.PENDING
    assert isinstance(approval.pull_events()[0], ApprovalRequested)


@pytest.mark.parametrize(
    ("decision", "status"),
    [
        (Decision.APPROVE, ApprovalStatus.APPROVED),
        (Decision.REJECT, ApprovalStatus.REJECTED),
        (Decision.EDIT, ApprovalStatus.APPROVED_WITH_EDITS),
    ],
)
def test_each_decision_leads_to_its_state(decision: Decision, status: ApprovalStatus) -> None:
    approval = tool_approval()
    edits = {"path": "b.py"} if decision is Decision.EDIT else None
    approval.decide(decision, now=NOW, modified_arguments=edits, feedback="ok")
    assert approval.status is status
    assert approval.modified_arguments == edits
    assert approval.decided_at == NOW
    assert isinstance(approval.pull_events()[-1], ApprovalDecided)


def test_an_approval_is_decided_only_once() -> None:
    approval = tool_approval()
    approval.decide(Decision.APPROVE, now=NOW)
    with pytest.raises(Conflict):
        approval.decide(Decision.REJECT, now=NOW)


def test_an_edit_without_arguments_is_refused() -> None:
    with pytest.raises(RuleViolation):
        tool_approval().decide(Decision.EDIT, now=NOW)


def test_expiry_closes_only_a_pending_approval() -> None:
    approval = tool_approval()
    approval.expire(NOW)
    assert approval.status is ApprovalStatus.EXPIRED
    approval.expire(NOW)
    assert approval.status is ApprovalStatus.EXPIRED


def test_a_plan_approval_must_name_its_plan() -> None:
    with pytest.raises(RuleViolation):
        tool_approval(kind=ApprovalKind.PLAN, tool_name="create_plan")


def test_an_approval_outlives_its_ttl_only_while_pending() -> None:
    approval = tool_approval()
    ttl = timedelta(seconds=60)
    assert not approval.outlived(ttl, NOW + ttl)
    assert approval.outlived(ttl, NOW + ttl + timedelta(microseconds=1))
    approval.decide(Decision.APPROVE, now=NOW)
    assert not approval.outlived(ttl, NOW + 2 * ttl)


def test_an_edit_is_remembered_with_the_arguments_the_call_runs_with() -> None:
    plain = tool_approval()
    plain.decide(Decision.APPROVE, now=NOW)
    assert not plain.edited
    assert plain.approved_arguments == {"path": "a.py", "content": "x"}
    edited = tool_approval()
    edited.decide(Decision.EDIT, now=NOW, modified_arguments={"path": "b.py", "content": "y"})
    assert edited.edited
    assert edited.approved_arguments == {"path": "b.py", "content": "y"}
    asked_again = tool_approval(reason=EDITED_REASON + "the path may hold secrets")
    asked_again.decide(Decision.APPROVE, now=NOW)
    assert asked_again.edited
