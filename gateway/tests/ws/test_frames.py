"""Inbound frames as the runtime receives them: known keys only, nulls dropped."""

from __future__ import annotations

from gateway.ws.frames import parse_frame


def test_an_always_approval_reaches_the_runtime() -> None:
    frame = parse_frame('{"type": "hitl_decision", "call_id": "c1", "decision": "approve", "always": true}')
    assert frame.for_runtime() == {"type": "hitl_decision", "call_id": "c1", "decision": "approve", "always": True}


def test_an_approval_without_always_carries_no_always_key() -> None:
    frame = parse_frame('{"type": "hitl_decision", "call_id": "c1", "decision": "approve"}')
    assert "always" not in frame.for_runtime()
