"""IDE frames: every type parsed, extra keys and explicit nulls accepted, bad input refused with the field named."""

from __future__ import annotations

from typing import Any

import pytest

from agent_runtime.runs.frames import (
    Cancel,
    HitlDecision,
    InvalidFrame,
    PlanDecision,
    SwitchAgent,
    ToolResult,
    UserMessage,
    parse_frame,
)

IDE_NULLS = dict.fromkeys(
    [
        "content",
        "role",
        "is_final",
        "call_id",
        "tool_name",
        "arguments",
        "requires_approval",
        "result",
        "error",
        "agent_type",
        "from_agent",
        "to_agent",
        "reason",
        "metadata",
        "session_id",
        "approval_request_id",
        "plan_id",
        "plan_summary",
        "decision",
        "feedback",
    ]
)


def frame(**fields: Any) -> dict[str, Any]:
    return {**IDE_NULLS, **fields}


def test_a_user_message_from_the_ide_with_every_key_null_but_its_own_is_accepted() -> None:
    parsed = parse_frame(frame(type="user_message", content="hi", role="user", extra_key=1))

    assert parsed == UserMessage("hi", None, None)


def test_a_user_message_keeps_agent_type_and_client_message_id() -> None:
    parsed = parse_frame({"type": "user_message", "content": "hi", "agent_type": "coder", "client_message_id": 7})

    assert parsed == UserMessage("hi", "coder", "7")


def test_each_frame_type_is_parsed() -> None:
    assert parse_frame(frame(type="tool_result", call_id="c1", result={"success": True})) == ToolResult(
        "c1", {"success": True}, None
    )
    assert parse_frame(frame(type="switch_agent", agent_type="debug", content="Switched to Debug")) == SwitchAgent(
        "debug"
    )
    assert parse_frame(frame(type="hitl_decision", call_id="c1", decision="edit", modified_arguments={"a": 1})) == (
        HitlDecision("c1", "edit", {"a": 1}, None)
    )
    assert parse_frame(frame(type="plan_decision", decision="approve", approval_request_id="", plan_id="")) == (
        PlanDecision("approve", None, None, None)
    )
    assert parse_frame({"type": "cancel"}) == Cancel()


@pytest.mark.parametrize(
    ("message", "param"),
    [
        ({"type": "telepathy"}, "message.type"),
        ({"type": "expire_approvals"}, "message.type"),  # internal: only the sweeper makes it
        ({"type": "ExpireApprovals"}, "message.type"),
        ({"content": "no type"}, "message.type"),
        ({"type": "user_message"}, "message.content"),
        ({"type": "user_message", "content": "   "}, "message.content"),
        ({"type": "user_message", "content": 5}, "message.content"),
        ({"type": "tool_result", "result": {}}, "message.call_id"),
        ({"type": "tool_result", "call_id": "c"}, "message"),
        ({"type": "tool_result", "call_id": "c", "result": {}, "error": "x"}, "message"),
        ({"type": "tool_result", "call_id": "c", "result": [1]}, "message.result"),
        ({"type": "switch_agent"}, "message.agent_type"),
        ({"type": "hitl_decision", "call_id": "c", "decision": "maybe"}, "message.decision"),
        ({"type": "hitl_decision", "call_id": "c", "decision": "edit"}, "message.modified_arguments"),
        ({"type": "hitl_decision", "call_id": "c", "decision": "approve", "always": "yes"}, "message.always"),
        (
            {"type": "hitl_decision", "call_id": "c", "decision": "edit", "modified_arguments": {}, "always": True},
            "message.always",
        ),
        ({"type": "plan_decision", "decision": "later"}, "message.decision"),
        ("not an object", "message"),
    ],
)
def test_bad_frames_are_refused_naming_the_field(message: Any, param: str) -> None:
    with pytest.raises(InvalidFrame) as caught:
        parse_frame(message)

    assert caught.value.param == param
