from datetime import UTC, datetime

import pytest

from agent_runtime.domain.errors import Conflict, RuleViolation
from agent_runtime.domain.message import Message
from agent_runtime.domain.run import Run, StopReason
from agent_runtime.domain.tool_call import IssuedToolCall

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_an_assistant_message_with_tool_calls_round_trips_through_openai_form() -> None:
    raw = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "read_file", "arguments": '{"path":"a"}'}}
        ],
    }
    message = Message.from_openai(raw, NOW)
    assert message.tool_calls[0].arguments == {"path": "a"}
    assert message.to_openai() == raw


def test_a_tool_message_round_trips_with_its_call_id() -> None:
    raw = {"role": "tool", "content": "{}", "tool_call_id": "c1", "name": "read_file"}
    assert Message.from_openai(raw, NOW).to_openai() == raw


def test_a_tool_message_without_a_call_id_is_invalid() -> None:
    with pytest.raises(ValueError, match="tool_call_id"):
        Message(role="tool", content="x", created_at=NOW)


def test_an_unknown_role_is_invalid() -> None:
    with pytest.raises(ValueError, match="role"):
        Message(role="robot", content="x", created_at=NOW)  # type: ignore[arg-type]


def test_a_run_stops_once_at_its_stop_point() -> None:
    run = Run.start(run_id="r", session_id="s", agent="coder", now=NOW)
    run.stop(StopReason.TOOL_CALL, NOW)
    assert not run.is_running
    assert run.stop_reason is StopReason.TOOL_CALL
    with pytest.raises(Conflict):
        run.stop(StopReason.COMPLETED, NOW)
    assert [e.type for e in run.pull_events()] == ["RunStarted", "RunStopped"]


def test_a_second_tool_result_changes_nothing() -> None:
    call = IssuedToolCall.issue(
        call_id="c", session_id="s", tool_name="read_file", arguments={}, requires_approval=False, created_at=NOW
    )
    assert call.complete(result={"success": True}, error=None, now=NOW)
    assert not call.complete(result=None, error="late", now=NOW)
    assert call.result == {"success": True}
    assert call.error is None


def test_a_tool_result_needs_exactly_one_of_result_or_error() -> None:
    call = IssuedToolCall.issue(
        call_id="c", session_id="s", tool_name="read_file", arguments={}, requires_approval=False, created_at=NOW
    )
    with pytest.raises(RuleViolation):
        call.complete(result={"a": 1}, error="both", now=NOW)
