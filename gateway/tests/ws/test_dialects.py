"""The one translation point: v1 shows what the IDE renders, v2 shows everything with seq."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from ide_client import render

from gateway.ws.dialects import V1Dialect, V2Dialect

V1 = V1Dialect(announces_session=False)
V1_NEW = V1Dialect(announces_session=True)


@pytest.mark.parametrize(
    "chunk",
    [
        {"type": "assistant_message", "token": "he", "is_final": False},
        {"type": "done", "stop_reason": "completed", "usage": {"total_tokens": 3}},
        {"type": "status", "metadata": {"queued": True}},
        {"type": "status", "content": "queued behind the running turn"},
        {"type": "assistant_message", "content": "", "is_final": True},
        {"type": "session_info", "session_id": "s1"},
        {"type": "plan_progress", "plan_id": "p"},
    ],
)
def test_v1_hides_frames_the_ide_would_render_as_empty_or_per_token_bubbles(chunk: dict[str, Any]) -> None:
    assert V1.translate(chunk, 5) is None


def test_v1_announces_the_session_only_on_new_sockets() -> None:
    frame = V1_NEW.translate({"type": "session_info", "session_id": "s1"}, 1)
    assert frame == {"type": "session_info", "session_id": "s1"}
    assert render(orjson.dumps(frame).decode(), "B", opened_new=True) is None


def test_v1_tool_call_arguments_given_as_a_json_string_become_an_object() -> None:
    chunk = {
        "type": "tool_call",
        "call_id": "c",
        "tool_name": "read_file",
        "arguments": '{"path": "a", "start_line": 2}',
    }
    frame = V1.translate(chunk, 3)
    assert frame is not None
    assert frame["arguments"] == {"path": "a", "start_line": 2}
    assert frame["requires_approval"] is False
    assert "seq" not in frame
    render(orjson.dumps(frame).decode(), "A")


def test_v1_agent_switched_carries_its_fields_at_top_level_and_in_metadata() -> None:
    frame = V1.translate({"type": "agent_switched", "metadata": {"from_agent": "coder", "to_agent": "ask"}}, 1)
    assert frame is not None
    assert (frame["from_agent"], frame["to_agent"]) == ("coder", "ask")
    assert frame["metadata"]["to_agent"] == "ask"
    assert frame["content"] == "coder → ask"


def test_v1_agent_switched_with_a_reason_renders_for_client_a() -> None:
    chunk = {
        "type": "agent_switched",
        "from_agent": "a",
        "to_agent": "b",
        "reason": "why",
        "metadata": {"confidence": 1},
    }
    frame = V1.translate(chunk, 1)
    assert frame is not None
    assert frame["metadata"] == {"confidence": 1, "from_agent": "a", "to_agent": "b", "reason": "why"}
    render(orjson.dumps(frame).decode(), "A")


def test_v1_error_always_has_content() -> None:
    frame = V1.translate({"type": "error", "error": "boom", "metadata": {"code": "x"}}, 1)
    assert frame is not None
    assert frame["content"] == "boom"


def test_v1_plan_summary_gets_the_types_client_b_requires() -> None:
    chunk = {"type": "plan_approval_required", "plan_summary": {"goal": "g", "subtasks": [{"id": 1}, {"id": 2}]}}
    frame = V1.translate(chunk, 1)
    assert frame is not None
    assert frame["plan_summary"]["subtasks_count"] == 2
    assert frame["approval_request_id"] == frame["plan_id"] == ""
    render(orjson.dumps(frame).decode(), "B")


def test_v1_drops_keys_of_the_wrong_type_instead_of_losing_the_frame() -> None:
    frame = V1.translate({"type": "assistant_message", "content": "hi", "is_final": True, "metadata": ["x"]}, 1)
    assert frame == {"type": "assistant_message", "content": "hi", "is_final": True}


def test_v2_keeps_every_chunk_with_its_seq_and_without_nulls() -> None:
    frame = V2Dialect().translate({"type": "assistant_message", "token": "x", "is_final": False, "error": None}, 9)
    assert frame == {"type": "assistant_message", "token": "x", "is_final": False, "seq": 9}
    assert V2Dialect().translate({"type": "done", "stop_reason": "completed"}, 10) == {
        "type": "done",
        "stop_reason": "completed",
        "seq": 10,
    }


REFUSED = {
    "type": "tool_refused",
    "call_id": "c1",
    "tool_name": "execute_command",
    "arguments": {"command": "sudo reboot"},
    "content": "'sudo' is not allowed",
    "metadata": {"rule": "deny:sudo"},
}


def test_v1_shows_a_refused_call_as_an_error_bubble_with_its_reason() -> None:
    frame = V1.translate(REFUSED, 7)

    assert frame == {"type": "error", "content": "Refused execute_command: 'sudo' is not allowed"}
    bubble = render(orjson.dumps(frame).decode(), "A")
    assert bubble is not None
    assert bubble.kind == "error"


def test_v2_forwards_a_refused_call_as_is() -> None:
    assert V2Dialect().translate(REFUSED, 7) == {**REFUSED, "seq": 7}
